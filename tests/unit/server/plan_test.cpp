// server::plan_response: what a request path asks of the server.
#include "server/connection.hpp"

#include <doctest/doctest.h>

#include <string_view>

using namespace std::chrono_literals;
using sockdrill::http::Method;
using sockdrill::http::RequestHead;
using sockdrill::server::CloseReason;
using sockdrill::server::Config;
using sockdrill::server::plan_response;
using sockdrill::server::ResponsePlan;

namespace {

// A keep-alive HTTP/1.1 GET of target.
RequestHead get(std::string_view target) {
    RequestHead head;
    head.method = Method::get;
    head.method_name = "GET";
    head.target = target;
    head.version_minor = 1;
    head.keep_alive = true;
    return head;
}

ResponsePlan plan(std::string_view target, const Config& config = {}) {
    return plan_response(get(target), config, 1, false);
}

void check_bad_request(const ResponsePlan& p) {
    CHECK(p.status == 400);
    CHECK(p.body_bytes == 0);
    CHECK(p.delay_us == 0);
    CHECK(p.close);
    CHECK_FALSE(p.abort);
    CHECK(p.reason == CloseReason::bad_request);
}

}  // namespace

TEST_CASE("a plain GET gets the configured response and keeps the connection") {
    Config config;
    config.response_size = 100;
    config.response_delay = 5ms;
    auto p = plan("/", config);
    CHECK(p.status == 200);
    CHECK(p.body_bytes == 100);
    CHECK(p.delay_us == 5000);
    CHECK_FALSE(p.close);
    CHECK_FALSE(p.abort);
    CHECK_FALSE(p.head_only);
    CHECK_FALSE(p.keep_alive_1_0);
    CHECK(p.version_minor == 1);
}

TEST_CASE("paths without control words get the configured response") {
    Config config;
    CHECK(plan("/index.html", config).body_bytes == config.response_size);
    CHECK(plan("/a/b/c", config).status == 200);
    CHECK(plan("", config).status == 200);
}

TEST_CASE("/bytes/N sets the body size, with size units") {
    CHECK(plan("/bytes/0").body_bytes == 0);
    CHECK(plan("/bytes/4096").body_bytes == 4096);
    CHECK(plan("/bytes/4KiB").body_bytes == 4096);
    CHECK(plan("/bytes/1M").body_bytes == 1000000);
    CHECK(plan("/bytes/10/bytes/20").body_bytes == 20);
}

TEST_CASE("a query string does not change the controls") {
    auto p = plan("/bytes/10?bytes=99&status=500");
    CHECK(p.body_bytes == 10);
    CHECK(p.status == 200);
}

TEST_CASE("/delay/D sets the delay, capped at ten minutes") {
    CHECK(plan("/delay/10ms").delay_us == 10000);
    CHECK(plan("/delay/250us").delay_us == 250);
    CHECK(plan("/delay/2").delay_us == 2000000);
    CHECK(plan("/delay/1h").delay_us == 600000000);
}

TEST_CASE("/delay/0 overrides the configured response delay") {
    Config config;
    config.response_delay = 1s;
    CHECK(plan("/delay/0", config).delay_us == 0);
}

TEST_CASE("/status/C sets any status from 200 to 599") {
    CHECK(plan("/status/200").status == 200);
    CHECK(plan("/status/404").status == 404);
    CHECK(plan("/status/503").status == 503);
    CHECK(plan("/status/599").status == 599);
    CHECK_FALSE(plan("/status/503").close);
}

TEST_CASE("controls combine in any order") {
    auto p = plan("/delay/10ms/bytes/4096/status/503");
    CHECK(p.delay_us == 10000);
    CHECK(p.body_bytes == 4096);
    CHECK(p.status == 503);
    auto q = plan("//status/201///bytes/7/close/");
    CHECK(q.status == 201);
    CHECK(q.body_bytes == 7);
    CHECK(q.close);
}

TEST_CASE("/close closes after the response with the server_close reason") {
    auto p = plan("/close");
    CHECK(p.close);
    CHECK_FALSE(p.abort);
    CHECK(p.reason == CloseReason::server_close);
    CHECK(p.status == 200);
}

TEST_CASE("/abort closes with RST after the response") {
    auto p = plan("/bytes/5/abort");
    CHECK(p.abort);
    CHECK(p.close);
    CHECK(p.reason == CloseReason::abort);
    CHECK(p.body_bytes == 5);
}

TEST_CASE("a bad control value is a 400 that closes the connection") {
    for (auto target : {"/bytes/lots", "/bytes/", "/bytes", "/bytes/1.5", "/delay/soon", "/delay/-1s",
                        "/delay", "/status/abc", "/status/199", "/status/600", "/status/100", "/status/",
                        "/status/2000", "/delay/10ms/bytes/x"}) {
        CAPTURE(target);
        check_bad_request(plan(target));
    }
}

TEST_CASE("a 400 for a bad control keeps the request's HTTP version") {
    auto head = get("/bytes/x");
    head.version_minor = 0;
    auto p = plan_response(head, Config{}, 1, false);
    CHECK(p.status == 400);
    CHECK(p.version_minor == 0);
    CHECK_FALSE(p.keep_alive_1_0);
}

TEST_CASE("HEAD plans the body length but is marked head-only") {
    auto head = get("/bytes/100");
    head.method = Method::head;
    auto p = plan_response(head, Config{}, 1, false);
    CHECK(p.head_only);
    CHECK(p.body_bytes == 100);
}

TEST_CASE("HTTP/1.0 without keep-alive closes after the response") {
    auto head = get("/");
    head.version_minor = 0;
    head.keep_alive = false;
    auto p = plan_response(head, Config{}, 1, false);
    CHECK(p.close);
    CHECK(p.reason == CloseReason::server_close);
    CHECK(p.version_minor == 0);
    CHECK_FALSE(p.keep_alive_1_0);
}

TEST_CASE("HTTP/1.0 with keep-alive stays open and answers with keep-alive") {
    auto head = get("/");
    head.version_minor = 0;
    head.keep_alive = true;
    auto p = plan_response(head, Config{}, 1, false);
    CHECK_FALSE(p.close);
    CHECK(p.keep_alive_1_0);
    CHECK(p.version_minor == 0);
}

TEST_CASE("HTTP/1.1 with Connection: close closes with the server_close reason") {
    auto head = get("/");
    head.keep_alive = false;
    auto p = plan_response(head, Config{}, 1, false);
    CHECK(p.close);
    CHECK(p.reason == CloseReason::server_close);
}

TEST_CASE("max_requests closes on the Nth request of a connection, not before") {
    Config config;
    config.max_requests = 3;
    auto head = get("/");
    CHECK_FALSE(plan_response(head, config, 1, false).close);
    CHECK_FALSE(plan_response(head, config, 2, false).close);
    auto third = plan_response(head, config, 3, false);
    CHECK(third.close);
    CHECK(third.reason == CloseReason::max_requests);
    CHECK(plan_response(head, config, 4, false).reason == CloseReason::max_requests);
}

TEST_CASE("max_requests 0 means unlimited") {
    Config config;
    config.max_requests = 0;
    CHECK_FALSE(plan_response(get("/"), config, 1000000, false).close);
}

TEST_CASE("a stopping server closes after the response with the shutdown reason") {
    auto p = plan_response(get("/"), Config{}, 1, true);
    CHECK(p.close);
    CHECK(p.reason == CloseReason::server_shutdown);
    auto head = get("/");
    head.version_minor = 0;
    CHECK_FALSE(plan_response(head, Config{}, 1, true).keep_alive_1_0);
}

TEST_CASE("an explicit close reason is kept when the server is also stopping or at max_requests") {
    Config config;
    config.max_requests = 1;
    CHECK(plan_response(get("/abort"), config, 1, true).reason == CloseReason::abort);
    CHECK(plan_response(get("/close"), config, 1, true).reason == CloseReason::server_close);
    auto head = get("/");
    head.keep_alive = false;
    CHECK(plan_response(head, config, 1, true).reason == CloseReason::server_close);
}
