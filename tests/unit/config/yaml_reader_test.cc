// Tests of the generic YAML reader and its text functions, apart from any configuration key:
// suggestions, lists, number conversions, the problem report, typed reads and the map reader.
#include "config/yaml_reader.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "config/problems.h"
#include "config/text.h"

namespace pmdnet::config {
namespace {

// ---- text.h ----

TEST(EditDistanceTest, CountsInsertionsDeletionsSubstitutions) {
  EXPECT_EQ(edit_distance("dpdk", "dpdk"), 0u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(EditDistanceTest, AnAdjacentTranspositionIsOneEdit) {
  EXPECT_EQ(edit_distance("dpkd", "dpdk"), 1u);
  EXPECT_EQ(edit_distance("lcroes", "lcores"), 1u);
}

TEST(ClosestTest, SuggestsTheNearestCandidate) {
  EXPECT_EQ(closest("dpkd", {"null", "dpdk", "loopback"}), "dpdk");
  EXPECT_EQ(closest("srever", {"server", "client"}), "server");
}

TEST(ClosestTest, AllowsAThirdOfTheWordAtLeastOneAtMostTwo) {
  // Short words: one edit.
  EXPECT_EQ(closest("ab", {"ac"}), "ac");
  EXPECT_EQ(closest("ab", {"cd"}), std::nullopt);
  // Six letters: two edits.
  EXPECT_EQ(closest("lcorse", {"lcores"}), "lcores");
  EXPECT_EQ(closest("xcorse", {"lcores"}), "lcores");
  EXPECT_EQ(closest("xcorsx", {"lcores"}), std::nullopt);
  // Long words: still two.
  EXPECT_EQ(closest("mempol_sise", {"mempool_size"}), "mempool_size");
  EXPECT_EQ(closest("mempol_sis", {"mempool_size"}), std::nullopt);
}

TEST(ClosestTest, TheFirstOfEquallyCloseCandidatesAndNoneFromNone) {
  EXPECT_EQ(closest("ab", {"ac", "ad"}), "ac");
  EXPECT_EQ(closest("ab", {}), std::nullopt);
}

TEST(UnknownNameMessageTest, ListsTheNamesAndSuggestsTheClosest) {
  EXPECT_EQ(unknown_name_message("value", "dpkd", {"dpdk", "null"}),
            "unknown value 'dpkd'; expected one of dpdk, null (did you mean 'dpdk'?)");
  EXPECT_EQ(unknown_name_message("hash type", "zzz", {"ipv4", "ipv6"}),
            "unknown hash type 'zzz'; expected one of ipv4, ipv6");
}

TEST(JoinTest, SeparatesWithCommas) {
  EXPECT_EQ(join({}), "");
  EXPECT_EQ(join({"a"}), "a");
  EXPECT_EQ(join({"a", "b", "c"}), "a, b, c");
  EXPECT_EQ(list_numbers({}), "");
  EXPECT_EQ(list_numbers({0, 12, 3}), "0, 12, 3");
}

TEST(ParseDecimalTest, AcceptsDigitsOnlyWithoutOverflow) {
  EXPECT_EQ(parse_decimal("0"), 0u);
  EXPECT_EQ(parse_decimal("0042"), 42u);
  EXPECT_EQ(parse_decimal("18446744073709551615"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(parse_decimal("18446744073709551616"), std::nullopt);
  for (std::string_view bad : {"", "-1", "+1", " 1", "1 ", "1a", "0x10"}) {
    EXPECT_EQ(parse_decimal(bad), std::nullopt) << bad;
  }
}

TEST(HexTest, DigitsInEitherCase) {
  for (char c : std::string_view("0123456789abcdefABCDEF")) EXPECT_TRUE(is_hex(c)) << c;
  for (char c : std::string_view("gG:x -")) EXPECT_FALSE(is_hex(c)) << c;
  EXPECT_EQ(hex_value('0'), 0);
  EXPECT_EQ(hex_value('9'), 9);
  EXPECT_EQ(hex_value('a'), 10);
  EXPECT_EQ(hex_value('F'), 15);
}

// ---- problems.h ----

TEST(ProblemsTest, EscapesControlCharacters) {
  EXPECT_EQ(escape_controls("plain text"), "plain text");
  EXPECT_EQ(escape_controls("a\nb\tc\x7f\x1b[0m"), "a\\x0ab\\x09c\\x7f\\x1b[0m");
  EXPECT_EQ(escape_controls("caf\xc3\xa9"), "caf\xc3\xa9");  // UTF-8 is not a control
}

TEST(ProblemsTest, RendersOneLinePerProblemByPosition) {
  Problems problems;
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(problems.render("f.yaml", 10), "");
  problems.add({3, 1}, "third");
  problems.add({1, 5}, "first, column 5");
  problems.add({1, 2}, "first, column 2");
  problems.add({3, 1}, "third, added last");
  EXPECT_EQ(problems.size(), 4u);
  EXPECT_EQ(problems.render("f.yaml", 10),
            "f.yaml:1:2: first, column 2\n"
            "f.yaml:1:5: first, column 5\n"
            "f.yaml:3:1: third\n"
            "f.yaml:3:1: third, added last");
}

TEST(ProblemsTest, ShowsAtMostMaxShownThenCountsTheRest) {
  Problems problems;
  for (int line = 1; line <= 5; ++line) problems.add({line, 1}, "bad");
  EXPECT_EQ(problems.render("f.yaml", 2),
            "f.yaml:1:1: bad\n"
            "f.yaml:2:1: bad\n"
            "f.yaml: ... and 3 more errors");
}

TEST(ProblemsTest, EscapesTheSourceAndTheMessages) {
  Problems problems;
  problems.add({1, 1}, "key\nwith newline");
  EXPECT_EQ(problems.render("a\nb.yaml", 10), "a\\x0ab.yaml:1:1: key\\x0awith newline");
}

// ---- yaml_reader.h ----

using ReadFn = std::function<void(Reader&, const Value&)>;

// The report of reading `yaml` with `read`, as "t.yaml:line:col: message" lines.
std::string report(std::string_view yaml, const ReadFn& read) {
  Problems problems;
  read_document(yaml, problems, read);
  return problems.render("t.yaml", 50);
}

TEST(MapReaderTest, HandsOutTheKnownKeysWithTheirPathsAndPositions) {
  std::optional<Value> b;
  EXPECT_EQ(report("a: 1\nb:\n  c: x\n",
                   [&](Reader& reader, const Value& root) {
                     MapReader keys(reader, root, {"a", "b"});
                     b = keys.get("b");
                     EXPECT_FALSE(keys.get("c"));
                   }),
            "");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->path, "b");
  EXPECT_EQ(b->pos, (Pos{3, 3}));
}

TEST(MapReaderTest, SuggestsTheClosestKnownKeyForAnUnknownOne) {
  EXPECT_EQ(report("alpha: 1\nbeat: 2\n",
                   [](Reader& reader, const Value& root) {
                     MapReader keys(reader, root, {"alpha", "beta"});
                   }),
            "t.yaml:2:1: beat: unknown key; did you mean 'beta'?");
  EXPECT_EQ(report("outer:\n  zzz: 1\n",
                   [](Reader& reader, const Value& root) {
                     MapReader keys(reader, root, {"outer"});
                     MapReader inner(reader, *keys.get("outer"), {"alpha", "beta"});
                   }),
            "t.yaml:2:3: outer.zzz: unknown key; expected one of alpha, beta");
}

TEST(MapReaderTest, ReportsDuplicateKeysKeysThatAreNotNamesAndMissingKeys) {
  EXPECT_EQ(report("a: 1\na: 2\n",
                   [](Reader& reader, const Value& root) {
                     MapReader keys(reader, root, {"a"});
                     EXPECT_EQ(keys.get("a")->pos, (Pos{1, 4}));
                   }),
            "t.yaml:2:1: a: duplicate key (first at line 1)");
  EXPECT_EQ(report("? [x]\n: 1\n",
                   [](Reader& reader, const Value& root) { MapReader keys(reader, root, {}); }),
            "t.yaml:1:3: top level: a key must be a name, got a list");
  EXPECT_EQ(report("a: 1\n",
                   [](Reader& reader, const Value& root) {
                     MapReader keys(reader, root, {"a", "b"});
                     EXPECT_FALSE(keys.require("b"));
                   }),
            "t.yaml:1:1: top level: missing required key 'b'");
}

TEST(ReaderTest, AnEmptyValueIsReportedAtItsKey) {
  EXPECT_EQ(report("s:\nt: 1\n",
                   [](Reader& reader, const Value& root) {
                     MapReader keys(reader, root, {"s", "t"});
                     EXPECT_FALSE(reader.string(*keys.get("s")));
                   }),
            "t.yaml:1:1: s: expected a string, got no value");
}

TEST(ReaderTest, ReadsTheWordNullAsAString) {
  EXPECT_EQ(report("s: null\n",
                   [](Reader& reader, const Value& root) {
                     MapReader keys(reader, root, {"s"});
                     EXPECT_EQ(reader.string(*keys.get("s")), "null");
                   }),
            "");
}

TEST(ReaderTest, IntegersAreUnquotedDecimalsInRange) {
  auto read_n = [](std::string_view yaml, std::optional<uint64_t> expected) {
    return report(yaml, [=](Reader& reader, const Value& root) {
      MapReader keys(reader, root, {"n"});
      EXPECT_EQ(reader.integer(*keys.get("n"), 1, 255), expected);
    });
  };
  EXPECT_EQ(read_n("n: 255", 255), "");
  EXPECT_EQ(read_n("n: 256", std::nullopt), "t.yaml:1:4: n: 256 is out of range; expected 1..255");
  EXPECT_EQ(read_n("n: -1", std::nullopt), "t.yaml:1:4: n: -1 is out of range; expected 1..255");
  EXPECT_EQ(read_n("n: 0x10", std::nullopt), "t.yaml:1:4: n: expected an integer, got '0x10'");
  EXPECT_EQ(read_n("n: '5'", std::nullopt),
            "t.yaml:1:4: n: expected an integer, got the quoted string \"5\"");
  EXPECT_EQ(read_n("n: [5]", std::nullopt), "t.yaml:1:4: n: expected an integer, got a list");
}

TEST(ReaderTest, BooleansAreTrueOrFalse) {
  EXPECT_EQ(report("a: True\nb: yes\n",
                   [](Reader& reader, const Value& root) {
                     MapReader keys(reader, root, {"a", "b"});
                     EXPECT_EQ(reader.boolean(*keys.get("a")), true);
                     EXPECT_EQ(reader.boolean(*keys.get("b")), std::nullopt);
                   }),
            "t.yaml:2:4: b: expected true or false, got 'yes'");
}

TEST(ReaderTest, OneOfGivesTheIndexOrSuggests) {
  EXPECT_EQ(report("a: client\nb: srever\n",
                   [](Reader& reader, const Value& root) {
                     MapReader keys(reader, root, {"a", "b"});
                     EXPECT_EQ(reader.one_of(*keys.get("a"), {"server", "client"}), 1u);
                     EXPECT_EQ(reader.one_of(*keys.get("b"), {"server", "client"}), std::nullopt);
                   }),
            "t.yaml:2:4: b: unknown value 'srever'; expected one of server, client (did you mean "
            "'server'?)");
}

TEST(ReaderTest, ListItemsAreNamedByIndex) {
  EXPECT_EQ(report("list:\n  - 1\n  - x\n",
                   [](Reader& reader, const Value& root) {
                     MapReader keys(reader, root, {"list"});
                     auto list = keys.get("list");
                     ASSERT_TRUE(reader.expect_list(*list));
                     EXPECT_FALSE(reader.expect_map(*list));
                     for (const Value& item : reader.items(*list)) reader.integer(item, 0, 9);
                   }),
            "t.yaml:2:3: list: expected a map, got a list\n"
            "t.yaml:3:5: list[1]: expected an integer, got 'x'");
}

TEST(ReadDocumentTest, AnEmptyDocumentIsANullRootAtTheStart) {
  bool called = false;
  EXPECT_EQ(report("# only a comment\n",
                   [&](Reader&, const Value& root) {
                     called = true;
                     EXPECT_TRUE(root.node.IsNull());
                     EXPECT_EQ(root.path, "");
                     EXPECT_EQ(root.pos, (Pos{1, 1}));
                   }),
            "");
  EXPECT_TRUE(called);
}

TEST(ReadDocumentTest, SyntaxErrorsAndASecondDocumentAreProblems) {
  auto ignore = [](Reader&, const Value&) {};
  EXPECT_EQ(report("a: 1\n---\nb: 2\n", ignore),
            "t.yaml:2:1: a second YAML document ('---'); the configuration is one document");
  EXPECT_EQ(report("a: [1, 2\n", ignore).rfind("t.yaml:", 0), 0u);
  EXPECT_NE(report("a: [1, 2\n", ignore).find(": YAML syntax error: "), std::string::npos);
  EXPECT_EQ(report(",\n", ignore),
            "t.yaml:1:1: YAML syntax error: a token that cannot start a document (',')");
}

TEST(ReadDocumentTest, PositionsSkipAByteOrderMark) {
  EXPECT_EQ(report("\xEF\xBB\xBFn: x\n",
                   [](Reader& reader, const Value& root) {
                     MapReader keys(reader, root, {"n"});
                     reader.integer(*keys.get("n"), 0, 1);
                   }),
            "t.yaml:1:4: n: expected an integer, got 'x'");
}

}  // namespace
}  // namespace pmdnet::config
