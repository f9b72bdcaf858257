#pragma once

// The OpenAPI 3.1 document of every service's REST API (api/openapi.json in the
// repository, embedded into the binary at build time by api/embed.cmake), served as it is
// at GET /openapi.json on the gateway, without a credential and outside the envelope (it
// is what OpenAPI tools read). integration.openapi keeps it and the route tables in step
// both ways; integration.readme_examples validates the README's requests and answers
// against its schemas.

#include <string_view>

namespace herald {

std::string_view openapi_document();

} // namespace herald
