// gnet: the seed's broadcast server on gnet v2 + gobwas/ws, made race-free
// (BENCH.md "peers"). The seed keeps one map of connections shared by all
// event loops and writes to other loops' connections directly, a data race
// under WithMulticore(true). Here the set is guarded by a RWMutex, the sender
// is written to from its own loop (Conn.Write), and every other member gets
// the frame through Conn.AsyncWrite, which hands it to the member's own loop.
// The seed's design is otherwise kept: a connection set and a broadcast of
// every message. One extension for the side-by-side runs: the set is per
// upgrade path (the path is the room), as in chatd, so that `echo` (each
// client in its own room) means the same thing on every server.
// Per-message logging is off (the seed logged every message).
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"sync"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
)

type wsConn struct {
	upgraded bool
	path     string
	buf      []byte
}

type server struct {
	gnet.BuiltinEventEngine
	addr      string
	maxFrame  int
	mu        sync.RWMutex
	rooms     map[string]map[gnet.Conn]struct{}
	connected int
}

func (s *server) OnBoot(eng gnet.Engine) gnet.Action {
	log.Printf("gnet broadcast server on ws://%s/ (multicore)", s.addr)
	return gnet.None
}

func (s *server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&wsConn{})
	return nil, gnet.None
}

func (s *server) OnClose(c gnet.Conn, err error) gnet.Action {
	w, _ := c.Context().(*wsConn)
	if w != nil && w.upgraded {
		s.mu.Lock()
		if set := s.rooms[w.path]; set != nil {
			delete(set, c)
			if len(set) == 0 {
				delete(s.rooms, w.path)
			}
		}
		s.connected--
		s.mu.Unlock()
	}
	return gnet.None
}

type rw struct {
	io.Reader
	io.Writer
}

func (s *server) OnTraffic(c gnet.Conn) gnet.Action {
	w := c.Context().(*wsConn)
	data, _ := c.Next(-1)
	w.buf = append(w.buf, data...)
	if !w.upgraded {
		r := bytes.NewReader(w.buf)
		path := "/"
		u := ws.Upgrader{OnRequest: func(uri []byte) error { path = string(uri); return nil }}
		_, err := u.Upgrade(rw{r, c})
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return gnet.None // incomplete request, wait for more
			}
			return gnet.Close
		}
		if i := bytes.IndexByte([]byte(path), '?'); i >= 0 {
			path = path[:i]
		}
		w.buf = w.buf[len(w.buf)-r.Len():]
		w.upgraded = true
		w.path = path
		s.mu.Lock()
		set := s.rooms[path]
		if set == nil {
			set = make(map[gnet.Conn]struct{})
			s.rooms[path] = set
		}
		set[c] = struct{}{}
		s.connected++
		s.mu.Unlock()
	}
	for {
		n, op, payload, ok, bad := parseFrame(w.buf, s.maxFrame)
		if bad {
			return gnet.Close
		}
		if !ok {
			break
		}
		switch op {
		case ws.OpText, ws.OpBinary:
			s.broadcast(c, w.path, op, payload)
		case ws.OpPing:
			c.Write(serverFrame(ws.OpPong, payload))
		case ws.OpClose:
			c.Write(serverFrame(ws.OpClose, nil))
			return gnet.Close
		}
		w.buf = w.buf[n:]
	}
	if len(w.buf) == 0 {
		w.buf = w.buf[:0:0]
	}
	return gnet.None
}

func (s *server) broadcast(from gnet.Conn, path string, op ws.OpCode, payload []byte) {
	frame := serverFrame(op, payload) // shared, read-only from here on
	s.mu.RLock()
	for c := range s.rooms[path] {
		if c == from {
			c.Write(frame) // our own loop
		} else {
			_ = c.AsyncWrite(frame, nil) // the member's loop writes it
		}
	}
	s.mu.RUnlock()
}

func serverFrame(op ws.OpCode, payload []byte) []byte {
	n := len(payload)
	var hdr [10]byte
	hdr[0] = 0x80 | byte(op)
	h := 2
	switch {
	case n < 126:
		hdr[1] = byte(n)
	case n < 65536:
		hdr[1] = 126
		binary.BigEndian.PutUint16(hdr[2:], uint16(n))
		h = 4
	default:
		hdr[1] = 127
		binary.BigEndian.PutUint64(hdr[2:], uint64(n))
		h = 10
	}
	out := make([]byte, h+n)
	copy(out, hdr[:h])
	copy(out[h:], payload)
	return out
}

// parseFrame parses one masked client frame (no fragmentation support beyond
// passing FIN frames through). It unmasks in place.
func parseFrame(b []byte, max int) (n int, op ws.OpCode, payload []byte, ok, bad bool) {
	if len(b) < 2 {
		return
	}
	op = ws.OpCode(b[0] & 0x0f)
	masked := b[1]&0x80 != 0
	l := int(b[1] & 0x7f)
	h := 2
	switch l {
	case 126:
		if len(b) < 4 {
			return
		}
		l = int(binary.BigEndian.Uint16(b[2:]))
		h = 4
	case 127:
		if len(b) < 10 {
			return
		}
		l64 := binary.BigEndian.Uint64(b[2:])
		if l64 > uint64(max) {
			bad = true
			return
		}
		l = int(l64)
		h = 10
	}
	if !masked || l > max {
		bad = true
		return
	}
	if len(b) < h+4+l {
		return
	}
	var mask [4]byte
	copy(mask[:], b[h:h+4])
	payload = b[h+4 : h+4+l]
	ws.Cipher(payload, mask, 0)
	return h + 4 + l, op, payload, true, false
}

func main() {
	port := flag.Int("port", 9001, "listen port")
	bind := flag.String("bind", "127.0.0.1", "listen address")
	loops := flag.Int("loops", 0, "event loops (0: one per core)")
	flag.Parse()
	addr := fmt.Sprintf("%s:%d", *bind, *port)
	s := &server{addr: addr, maxFrame: 65536, rooms: make(map[string]map[gnet.Conn]struct{})}
	opts := []gnet.Option{gnet.WithMulticore(true), gnet.WithReusePort(true)}
	if *loops > 0 {
		opts = append(opts, gnet.WithNumEventLoop(*loops))
	}
	log.Fatal(gnet.Run(s, "tcp://"+addr, opts...))
}
