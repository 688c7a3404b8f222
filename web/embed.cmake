# Writes OUTPUT: a C++ file whose chatd::web::index_html() returns INPUT's bytes.
file(READ ${INPUT} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
file(WRITE ${OUTPUT}
  "#include \"web/assets.hpp\"\n"
  "namespace chatd::web {\n"
  "namespace { constexpr char bytes[] = {${bytes}}; }\n"
  "std::string_view index_html() { return {bytes, sizeof(bytes)}; }\n"
  "} // namespace chatd::web\n")
