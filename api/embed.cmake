# cmake -DIN=api/openapi.json -DOUT=openapi_document.cpp -P api/embed.cmake
# Writes a C++ source defining herald::openapi_document() as IN's text, so the binary
# serves the document the repository holds (GET /openapi.json) without reading files.
file(READ ${IN} content)
file(WRITE ${OUT}.tmp "// Generated from api/openapi.json by api/embed.cmake: do not edit.\n"
  "#include \"actors/gateway/openapi.hpp\"\n\n"
  "namespace herald {\n\n"
  "std::string_view openapi_document() {\n"
  "  static constexpr const char text[] = R\"herald_openapi(${content})herald_openapi\";\n"
  "  return {text, sizeof text - 1};\n"
  "}\n\n"
  "} // namespace herald\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
