#include "kernel/counters.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace kernel = sockdrill::kernel;

namespace {

std::string fixture(const std::string& name) {
    std::ifstream in(std::string(SOCKDRILL_SOURCE_DIR) + "/tests/unit/kernel/fixtures/" + name);
    REQUIRE_MESSAGE(in, "missing fixture " << name);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

kernel::CounterSnapshot snapshot(std::map<std::string, int64_t> values) {
    kernel::CounterSnapshot s;
    s.values = std::move(values);
    return s;
}

}  // namespace

TEST_CASE("netstat's TcpExt counters keep their bare names, other sections are prefixed") {
    std::map<std::string, int64_t> values;
    kernel::parse_section_pairs(fixture("netstat.txt"), values);
    CHECK(values.at("ListenOverflows") == 17);
    CHECK(values.at("ListenDrops") == 19);
    CHECK(values.at("TW") == 1207);
    CHECK(values.at("TCPAbortOnData") == 42);
    CHECK(values.at("TCPKeepAlive") == 7);
    CHECK(values.at("SyncookiesSent") == 0);
    CHECK(values.at("IpExt.InOctets") == 123456789012LL);  // 64-bit values survive
    CHECK(values.at("IpExt.OutOctets") == 98765432109LL);
    CHECK(values.count("TcpExt.ListenOverflows") == 0);
    CHECK(values.count("InOctets") == 0);
    CHECK(values.size() == 15 + 6);
}

TEST_CASE("snmp's Tcp counters keep their bare names, Ip, Icmp, Udp are prefixed, negatives parse") {
    std::map<std::string, int64_t> values;
    kernel::parse_section_pairs(fixture("snmp.txt"), values);
    CHECK(values.at("ActiveOpens") == 170553);
    CHECK(values.at("PassiveOpens") == 167116);
    CHECK(values.at("AttemptFails") == 32);
    CHECK(values.at("EstabResets") == 7870);
    CHECK(values.at("CurrEstab") == 4);
    CHECK(values.at("RetransSegs") == 8845);
    CHECK(values.at("OutRsts") == 5332);
    CHECK(values.at("MaxConn") == -1);
    CHECK(values.at("Udp.RcvbufErrors") == 6);
    CHECK(values.at("Udp.InDatagrams") == 29);
    CHECK(values.at("Ip.InReceives") == 14469328);
    CHECK(values.at("Icmp.InMsgs") == 1);
    CHECK(values.at("IcmpMsg.InType3") == 1);
}

TEST_CASE("parse_section_pairs skips a pair whose sections differ and values that are not numbers") {
    std::map<std::string, int64_t> values;
    kernel::parse_section_pairs("TcpExt: A B\nTcpExt: 1 x\nIp: C\nUdp: 3\n", values);
    CHECK(values.at("A") == 1);
    CHECK(values.count("B") == 0);
    CHECK(values.count("Ip.C") == 0);
    CHECK(values.count("Udp.C") == 0);
}

TEST_CASE("parse_section_pairs reads text without a final newline and fewer values than names") {
    std::map<std::string, int64_t> values;
    kernel::parse_section_pairs("Tcp: ActiveOpens PassiveOpens\nTcp: 5", values);
    CHECK(values.at("ActiveOpens") == 5);
    CHECK(values.count("PassiveOpens") == 0);
    values.clear();
    kernel::parse_section_pairs("", values);
    CHECK(values.empty());
}

TEST_CASE("snmp6 names split at the protocol's version digit") {
    std::map<std::string, int64_t> values;
    kernel::parse_name_value(fixture("snmp6.txt"), values);
    CHECK(values.at("Ip6.InReceives") == 71);
    CHECK(values.at("Ip6.InHdrErrors") == 0);
    CHECK(values.at("Icmp6.InMsgs") == 3);
    CHECK(values.at("Icmp6.InType133") == 2);
    CHECK(values.at("Udp6.InDatagrams") == 12);
    CHECK(values.at("UdpLite6.InErrors") == 1);
    CHECK(values.size() == 6);
}

TEST_CASE("parse_name_value ignores lines that are not NAME VALUE") {
    std::map<std::string, int64_t> values;
    kernel::parse_name_value("Ip6InReceives 5\n\nbroken\nIp6X 1 2\nIp6Y notanumber\nNoDigitName 4", values);
    CHECK(values.at("Ip6.InReceives") == 5);
    CHECK(values.at("NoDigitName") == 4);
    CHECK(values.size() == 2);
}

TEST_CASE("counter_deltas subtracts, counts a new counter from 0, and drops a vanished one") {
    auto before = snapshot({{"ListenOverflows", 10}, {"TW", 100}, {"Gone", 5}});
    auto after = snapshot({{"ListenOverflows", 13}, {"TW", 100}, {"New", 7}});
    auto d = kernel::counter_deltas(before, after);
    CHECK(d.at("ListenOverflows") == 3);
    CHECK(d.at("TW") == 0);
    CHECK(d.at("New") == 7);
    CHECK(d.count("Gone") == 0);
    CHECK(d.size() == 3);
}

TEST_CASE("counter_deltas of a gauge can be negative") {
    auto d = kernel::counter_deltas(snapshot({{"CurrEstab", 9}}), snapshot({{"CurrEstab", 4}}));
    CHECK(d.at("CurrEstab") == -5);
}

TEST_CASE("the curated set holds the issue's counters, each once, each explained") {
    std::set<std::string> names;
    for (const auto& c : kernel::curated_counters()) {
        CHECK_MESSAGE(!c.explanation.empty(), c.name);
        CHECK_MESSAGE(names.insert(std::string(c.name)).second, "duplicate " << c.name);
        CHECK(kernel::explain_counter(c.name) == c.explanation);
    }
    for (const char* name :
         {"ListenOverflows", "ListenDrops", "TCPReqQFullDrop", "SyncookiesSent", "TCPAbortOnData", "TCPAbortOnClose",
          "TCPAbortOnLinger", "TCPAbortOnTimeout", "TCPAbortOnMemory", "TCPKeepAlive", "TCPTimeouts",
          "TCPSynRetrans", "TW", "TWRecycled", "TCPTimeWaitOverflow", "ActiveOpens", "PassiveOpens", "AttemptFails",
          "EstabResets", "OutRsts", "RetransSegs", "TCPBacklogDrop"})
        CHECK_MESSAGE(names.count(name) == 1, "curated set lacks " << name);
    CHECK(kernel::explain_counter("NotACounter").empty());
    CHECK(kernel::explain_counter("IpExt.InOctets").empty());
}

TEST_CASE("curated names are the names the parser produces for the real files") {
    std::map<std::string, int64_t> values;
    kernel::parse_section_pairs(fixture("netstat.txt"), values);
    kernel::parse_section_pairs(fixture("snmp.txt"), values);
    for (const char* name : {"ListenOverflows", "TW", "ActiveOpens", "OutRsts", "Udp.RcvbufErrors"}) {
        CHECK_MESSAGE(values.count(name) == 1, name);
        CHECK_MESSAGE(!kernel::explain_counter(name).empty(), name);
    }
}

TEST_CASE("read_counters reads this namespace's files") {
    auto s = kernel::read_counters();
    CHECK(s.values.count("ActiveOpens") == 1);
    CHECK(s.values.count("ListenOverflows") == 1);
    CHECK(s.values.count("Udp.InDatagrams") == 1);
}
