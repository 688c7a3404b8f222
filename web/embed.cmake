# Writes OUTPUT: a C++ file whose chatd::web::find_asset() returns the bytes
# of each file in ASSETS ("path|file|media type" entries joined by commas,
# files in SOURCE_DIR).
string(REPLACE "," ";" ASSETS "${ASSETS}")
set(arrays "")
set(table "")
set(i 0)
foreach(entry IN LISTS ASSETS)
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 path)
  list(GET parts 1 file)
  list(GET parts 2 type)
  file(READ ${SOURCE_DIR}/${file} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
  string(APPEND arrays "constexpr char asset_${i}[] = {${bytes}};\n")
  string(APPEND table "  {\"${path}\", {\"${type}; charset=utf-8\", {asset_${i}, sizeof(asset_${i})}}},\n")
  math(EXPR i "${i} + 1")
endforeach()
file(WRITE ${OUTPUT}
  "#include \"web/assets.hpp\"\n"
  "#include <utility>\n"
  "namespace chatd::web {\n"
  "namespace {\n"
  "${arrays}"
  "constexpr std::pair<std::string_view, asset> assets[] = {\n${table}};\n"
  "} // namespace\n"
  "std::optional<asset> find_asset(std::string_view path) {\n"
  "  for (const auto& [p, a] : assets)\n"
  "    if (p == path)\n"
  "      return a;\n"
  "  return std::nullopt;\n"
  "}\n"
  "} // namespace chatd::web\n")
