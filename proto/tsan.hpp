#pragma once

// Hand-offs that ThreadSanitizer cannot see. Debian's CAF is not built with
// it, so a frame that one loop hands to an actor and another loop then reads
// looks unordered to it: nothing it watched ordered the write before the
// read. handed_over() where a loop gives an object to CAF and taken_over()
// where a loop receives it from CAF tell it what CAF's mailbox guarantees.
// Outside a TSan build they are nothing.

#if defined(__SANITIZE_THREAD__)
#define CHATD_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CHATD_TSAN 1
#endif
#endif

#ifdef CHATD_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace chatd {

inline void handed_over([[maybe_unused]] const void* object) {
#ifdef CHATD_TSAN
  __tsan_release(const_cast<void*>(object));
#endif
}

inline void taken_over([[maybe_unused]] const void* object) {
#ifdef CHATD_TSAN
  __tsan_acquire(const_cast<void*>(object));
#endif
}

} // namespace chatd
