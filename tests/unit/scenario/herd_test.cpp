#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "net/error.hpp"
#include "usage_error.hpp"
#include "scenario/herd.hpp"
#include "scenario/herd_parts.hpp"

using namespace sockdrill;
using namespace sockdrill::scenario;
using sockdrill::testing::usage_message;


TEST_CASE("herd models parse from comma lists and all, without repeats, in the order given") {
    auto models = parse_models({"reuseport,blocking", "reuseport"});
    REQUIRE(models.size() == 2);
    CHECK(models[0] == AcceptModel::reuseport);
    CHECK(models[1] == AcceptModel::blocking);
    CHECK(parse_models({"all"}).size() == all_models().size());
    CHECK(model_name(AcceptModel::epoll_exclusive) == "epoll-exclusive");
    CHECK(model_key(AcceptModel::mutex_sysvsem) == "mutex_sysvsem");
}

TEST_CASE("an unknown herd model is a usage error naming --model and the words it takes") {
    auto message = usage_message([] { parse_models({"blocking,accept-all"}); });
    CHECK(message.find("--model") == 0);
    CHECK(message.find("\"accept-all\"") != std::string::npos);
    CHECK(message.find("select-multi") != std::string::npos);
}

TEST_CASE("herd weights are positive whole numbers, one per listener") {
    CHECK(parse_weights("95,5") == std::vector<unsigned>{95, 5});
    CHECK(usage_message([] { parse_weights("95,0"); }).find("--weights") == 0);
    CHECK(usage_message([] { parse_weights("95,"); }).find("--weights") == 0);
    CHECK(usage_message([] { parse_weights("-1"); }).find("--weights") == 0);
    HerdConfig config;
    config.listeners = 2;
    config.weights = {1, 2, 3};
    cli::CommonOptions common;
    common.duration = std::chrono::seconds(1);
    CHECK(usage_message([&] { validate(config, common); }).find("--weights: expected 2 weights") == 0);
}

TEST_CASE("select-multi takes two listeners unless --listeners or --weights said otherwise") {
    HerdConfig config;
    CHECK(listeners_for(config, AcceptModel::select_multi) == 2);
    CHECK(listeners_for(config, AcceptModel::epoll_shared) == 1);
    config.listeners_given = true;
    CHECK(listeners_for(config, AcceptModel::select_multi) == 1);
}

TEST_CASE("Jain's index is 1 for even shares and 1/n when one worker takes everything") {
    std::vector<uint64_t> even{10, 10, 10, 10}, one{40, 0, 0, 0}, none{0, 0};
    CHECK(jain_index(even) == doctest::Approx(1.0));
    CHECK(jain_index(one) == doctest::Approx(0.25));
    CHECK(jain_index(none) == doctest::Approx(1.0));
    std::vector<uint64_t> two_of_four{20, 20, 0, 0};
    CHECK(jain_index(two_of_four) == doctest::Approx(0.5));
}

TEST_CASE("the weighted picker spreads listeners in proportion, interleaved") {
    herd::WeightedPicker picker({5, 1, 1});
    std::vector<unsigned> picks;
    for (int i = 0; i < 7; ++i) picks.push_back(picker.next());
    CHECK(std::count(picks.begin(), picks.end(), 0u) == 5);
    CHECK(std::count(picks.begin(), picks.end(), 1u) == 1);
    CHECK(std::count(picks.begin(), picks.end(), 2u) == 1);
    CHECK(picks == std::vector<unsigned>{0, 0, 1, 0, 2, 0, 0});  // nginx's smooth order
}
