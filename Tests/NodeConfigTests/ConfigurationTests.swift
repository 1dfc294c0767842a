import EnsureCrypto
import Foundation
import Ledger
import NodeConfig
import Testing

@Suite("TOML subset reader")
struct TOMLReaderTests {
    @Test("sections, strings with escapes, integers, booleans, multi-line string arrays and comments")
    func positives() throws {
        let document = try TOMLDocument(
            parsing: """
                # leading comment
                top = 1
                [alpha]  # trailing comment
                name = "a \\"quoted\\" \\u00e9 \\t tab" # comment
                count = -1_000
                plus = +7
                zero = 0
                on = true
                off = false
                list = [
                    "x", # first
                    "y",
                ]
                empty = []

                [beta-2]
                k_1 = "#not a comment"
                """)
        #expect(document.tables.map(\.name) == ["", "alpha", "beta-2"])
        #expect(document.table("")?.entries.first?.value == .integer(1))
        let alpha = try #require(document.table("alpha"))
        #expect(alpha.line == 3)
        #expect(alpha.entries.map(\.key) == ["name", "count", "plus", "zero", "on", "off", "list", "empty"])
        #expect(alpha.entries[0].value == .string("a \"quoted\" é \t tab"))
        #expect(alpha.entries[0].line == 4)
        #expect(alpha.entries[1].value == .integer(-1000))
        #expect(alpha.entries[2].value == .integer(7))
        #expect(alpha.entries[3].value == .integer(0))
        #expect(alpha.entries[4].value == .boolean(true))
        #expect(alpha.entries[5].value == .boolean(false))
        #expect(alpha.entries[6].value == .stringArray(["x", "y"]))
        #expect(alpha.entries[7].value == .stringArray([]))
        #expect(document.table("beta-2")?.entries.first?.value == .string("#not a comment"))
        #expect(try TOMLDocument(parsing: "a = 1\r\nb = 2\r\n").table("")?.entries.count == 2)
    }

    @Test(
        "everything outside the subset is refused with its line and column",
        arguments: [
            ("a = 1\na = 2", 2, 1),  // repeated key
            ("[s]\n[s]", 2, 1),  // repeated section
            ("a = 'lit'", 1, 5),  // literal string
            ("a = \"\"\"multi\"\"\"", 1, 5),  // multi-line string
            ("a = 1.5", 1, 5),  // float
            ("a = 1e5", 1, 5),  // exponent
            ("a = 1979-05-27", 1, 5),  // date
            ("a = 0x1f", 1, 5),  // hex
            ("a = 012", 1, 5),  // leading zero
            ("a = 1__0", 1, 5),  // doubled underscore
            ("a = 99999999999999999999", 1, 5),  // overflow
            ("a = { b = 1 }", 1, 5),  // inline table
            ("a.b = 1", 1, 2),  // dotted key
            ("\"a\" = 1", 1, 1),  // quoted key
            ("[[t]]", 1, 2),  // array of tables
            ("[a.b]", 1, 3),  // dotted section
            ("[a", 1, 3),  // unclosed header
            ("a = [1, 2]", 1, 6),  // non-string array
            ("a = [\"x\" \"y\"]", 1, 10),  // missing comma
            ("a = [\"x\",", 1, 5),  // unterminated array
            ("a = \"open", 1, 5),  // unterminated string
            ("a = \"bad \\q\"", 1, 10),  // unknown escape
            ("a = \"\\uD800\"", 1, 6),  // surrogate
            ("a = \"tab\u{01}\"", 1, 9),  // control character
            ("a = yes", 1, 5),  // bare word
            ("a = 1 2", 1, 7),  // trailing text
            ("a =", 1, 4),  // missing value
            ("a 1", 1, 3),  // missing =
            ("\n\n  = 1", 3, 3),  // missing key
            ("a = 1\r", 1, 7),  // lone carriage return
        ])
    func negatives(text: String, line: Int, column: Int) {
        do {
            _ = try TOMLDocument(parsing: text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.line == line, "\(text): \(error)")
            #expect(error.column == column, "\(text): \(error)")
            #expect(!error.reason.isEmpty)
        }
    }
}

@Suite("NodeConfiguration")
struct NodeConfigurationTests {
    let peerKey = Ed25519PrivateKey(seed: [UInt8](repeating: 3, count: 32))!.publicKey

    @Test("an empty file gives the defaults, and the written default file reads back to them")
    func defaults() throws {
        let defaults = NodeConfiguration()
        #expect(try NodeConfiguration(parsing: "") == defaults)
        #expect(try NodeConfiguration(parsing: defaults.renderTOML()) == defaults)
        #expect(defaults.node.keyFile == "keys/node.key")
        #expect(defaults.node.logLevel == .info)
        #expect(defaults.p2p.listenAddress.description == "0.0.0.0:26656")
        #expect(defaults.api.listenAddress.description == "127.0.0.1:8080")
        #expect(defaults.consensus.baseTimeoutMs == 1000)
        #expect(defaults.consensus.blockIntervalMs == 100)
        #expect(defaults.mempool.gossipIntervalMs == 50)
        #expect(defaults.renderTOML().contains("# "))
    }

    @Test("a customized configuration round-trips through its TOML, peers and IPv6 included")
    func roundTrip() throws {
        var configuration = NodeConfiguration()
        configuration.node.moniker = "validator-7"
        configuration.node.keyFile = "/etc/ensure/node.key"
        configuration.node.logLevel = .debug
        configuration.p2p.listenAddress = try #require(NetworkAddress(parsing: "[::1]:7000"))
        configuration.p2p.peers = [
            PeerEntry(key: peerKey, address: try #require(NetworkAddress(parsing: "node-1.example.org:7001")))
        ]
        configuration.mempool.maxTransactions = 5
        configuration.mempool.maxPerSigner = 17
        configuration.mempool.sequenceWindow = 33
        configuration.mempool.gossipIntervalMs = 7
        configuration.consensus.maxTimeoutMs = 2000
        configuration.consensus.blockIntervalMs = 0
        let text = configuration.renderTOML()
        #expect(try NodeConfiguration(parsing: text) == configuration)
        #expect(text.contains("\"\(peerKey.hex)@node-1.example.org:7001\""))
        #expect(text.contains("listen_address = \"[::1]:7000\""))
    }

    @Test("relative paths resolve against the home, absolute ones stay")
    func paths() {
        var configuration = NodeConfiguration()
        #expect(configuration.keyFilePath(home: "/srv/node") == "/srv/node/keys/node.key")
        #expect(configuration.dataDirectoryPath(home: "/srv/node/") == "/srv/node/data")
        #expect(configuration.genesisFilePath(home: "/srv/node") == "/srv/node/genesis.json")
        configuration.node.dataDirectory = "/var/lib/ensure"
        #expect(configuration.dataDirectoryPath(home: "/srv/node") == "/var/lib/ensure")
        configuration.node.keyFile = "../keys/k.key"
        #expect(configuration.keyFilePath(home: "/srv/node") == "/srv/keys/k.key")
    }

    @Test(
        "unknown sections and keys are errors naming the key and line",
        arguments: [
            ("[node]\nmonikor = \"x\"", ConfigurationError.unknownKey(key: "node.monikor", line: 2)),
            ("[p2p]\n\npeer = []", .unknownKey(key: "p2p.peer", line: 3)),
            ("[api]\nport = 1", .unknownKey(key: "api.port", line: 2)),
            ("[mempool]\nmax_tx = 1", .unknownKey(key: "mempool.max_tx", line: 2)),
            ("[consensus]\ntimeout = 1", .unknownKey(key: "consensus.timeout", line: 2)),
            ("moniker = \"x\"", .unknownKey(key: "moniker", line: 1)),
            ("[node]\n[nodes]", .unknownSection(name: "nodes", line: 2)),
        ])
    func unknownKeys(text: String, expected: ConfigurationError) {
        #expect(throws: expected) { try NodeConfiguration(parsing: text) }
    }

    @Test(
        "bad addresses are refused with the key and line",
        arguments: [
            "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:80a", ":8080", "::1:8080", "[::1]8080",
            "host name:80", "-bad.example:80", "a..b:80", "127.0.0.1:080", "[zz::1]:80",
        ])
    func badAddresses(address: String) {
        #expect(NetworkAddress(parsing: address) == nil)
        #expect(
            throws: ConfigurationError.invalidValue(
                key: "api.listen_address", line: 2,
                reason: "\"\(address)\" is not host:port (port 1-65535, IPv6 in brackets)")
        ) { try NodeConfiguration(parsing: "[api]\nlisten_address = \"\(address)\"") }
    }

    @Test("per-signer mempool limits parse, and zero is refused with the key and line")
    func perSignerLimits() throws {
        let parsed = try NodeConfiguration(parsing: "[mempool]\nmax_per_signer = 9\nsequence_window = 12")
        #expect(parsed.mempool.maxPerSigner == 9)
        #expect(parsed.mempool.sequenceWindow == 12)
        #expect(throws: ConfigurationError.self) {
            try NodeConfiguration(parsing: "[mempool]\nmax_per_signer = 0")
        }
        #expect(throws: ConfigurationError.self) {
            try NodeConfiguration(parsing: "[mempool]\nsequence_window = -1")
        }
    }

    @Test("good addresses parse", arguments: ["127.0.0.1:1", "localhost:65535", "[::1]:26656", "node-3.lan:80"])
    func goodAddresses(address: String) throws {
        let parsed = try #require(NetworkAddress(parsing: address))
        #expect(parsed.description == address)
    }

    @Test("bad peer strings are refused with their index, key and line")
    func badPeers() {
        let hex = peerKey.hex
        for peer in [
            "\(hex)", "\(hex)@", "\(hex)@127.0.0.1", "\(hex.dropLast())@127.0.0.1:80", "\(hex.uppercased())@h:80",
            "zz\(hex.dropFirst(2))@h:80", "@h:80", "\(hex)@h:0",
        ] {
            #expect(
                throws: ConfigurationError.invalidValue(
                    key: "p2p.peers[1]", line: 3,
                    reason: "\"\(peer)\" is not NODE_KEY_HEX@host:port (64 lower-case hex digits)")
            ) { try NodeConfiguration(parsing: "[p2p]\n\npeers = [\"\(hex)@h:1\", \"\(peer)\"]") }
        }
        #expect(throws: ConfigurationError.inconsistent(reason: "p2p.peers names key \(hex) twice")) {
            try NodeConfiguration(parsing: "[p2p]\npeers = [\"\(hex)@h:1\", \"\(hex)@h:2\"]")
        }
    }

    @Test(
        "wrong types and out-of-range values name the key and line",
        arguments: [
            (
                "[p2p]\nmax_frame_bytes = \"big\"",
                ConfigurationError.wrongType(
                    key: "p2p.max_frame_bytes", line: 2, expected: "an integer", found: "a string")
            ),
            (
                "[p2p]\npeers = \"a@b:1\"",
                .wrongType(key: "p2p.peers", line: 2, expected: "an array of strings", found: "a string")
            ),
            (
                "[node]\nmoniker = 5",
                .wrongType(key: "node.moniker", line: 2, expected: "a string", found: "an integer")
            ),
            (
                "[node]\nmoniker = \"has space\"",
                .invalidValue(key: "node.moniker", line: 2, reason: "must be 1-64 characters of A-Z a-z 0-9 . _ -")
            ),
            (
                "[node]\nkey_file = \"\"",
                .invalidValue(key: "node.key_file", line: 2, reason: "must be a non-empty path")
            ),
            (
                "[node]\nlog_level = \"loud\"",
                .invalidValue(
                    key: "node.log_level", line: 2,
                    reason: "\"loud\" is not one of trace, debug, info, notice, warning, error, critical")
            ),
            (
                "[mempool]\nmax_transactions = 0",
                .invalidValue(
                    key: "mempool.max_transactions", line: 2, reason: "must be between 1 and 10000000, found 0")
            ),
            (
                "[mempool]\ngossip_interval_ms = 0",
                .invalidValue(
                    key: "mempool.gossip_interval_ms", line: 2, reason: "must be between 1 and 10000, found 0")
            ),
            (
                "[consensus]\nblock_interval_ms = 60001",
                .invalidValue(
                    key: "consensus.block_interval_ms", line: 2, reason: "must be between 0 and 60000, found 60001")
            ),
            (
                "[consensus]\nbase_timeout_ms = 5000\nmax_timeout_ms = 1000",
                .inconsistent(reason: "consensus.max_timeout_ms (1000) is below consensus.base_timeout_ms (5000)")
            ),
        ])
    func badValues(text: String, expected: ConfigurationError) {
        #expect(throws: expected) { try NodeConfiguration(parsing: text) }
    }

    @Test("a syntax error surfaces with its line, and load() names the file")
    func syntaxAndFile() throws {
        #expect(
            throws: ConfigurationError.syntax(TOMLError(line: 2, column: 10, reason: "inline tables are not supported"))
        ) {
            try NodeConfiguration(parsing: "[api]\nlisten = { a = 1 }")
        }
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("ensure-config-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let path = home + "/config.toml"
        #expect(throws: ConfigurationError.unreadable(path: path, reason: "cannot be read")) {
            try NodeConfiguration.load(home: home)
        }
        try "[node]\nmonikr = \"x\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ConfigurationError.inFile(path: path, .unknownKey(key: "node.monikr", line: 2))) {
            try NodeConfiguration.load(home: home)
        }
        try NodeConfiguration().renderTOML().write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try NodeConfiguration.load(home: home) == NodeConfiguration())
    }
}

@Suite("TestnetPlan")
struct TestnetPlanTests {
    func keys(_ count: Int, from seed: UInt8) -> [Ed25519PublicKey] {
        (0..<count).map { Ed25519PrivateKey(seed: [UInt8](repeating: seed + UInt8($0), count: 32))!.publicKey }
    }

    @Test("four validators and an observer: distinct ports, each node peers with all others, a valid genesis")
    func plan() throws {
        let plan = try TestnetPlan(
            chainID: "local", genesisTime: 1, validatorKeys: keys(4, from: 1), adminKeys: keys(4, from: 50),
            observerKeys: keys(1, from: 100), basePort: 30_000)
        #expect(plan.members.count == 5)
        let ports = plan.members.flatMap {
            [$0.configuration.p2p.listenAddress.port, $0.configuration.api.listenAddress.port]
        }
        #expect(Set(ports).count == 10)
        #expect(ports.allSatisfy { (30_000..<30_010).contains($0) })
        for member in plan.members {
            let peers = Set(member.configuration.p2p.peers.map(\.key))
            #expect(peers == Set(plan.members.map(\.nodeKey)).subtracting([member.nodeKey]))
            #expect(try NodeConfiguration(parsing: member.configuration.renderTOML()) == member.configuration)
        }
        #expect(try plan.genesis.validatorSet().count == 4)
        #expect(plan.genesis.observers.count == 1)
        #expect(plan.members.filter(\.isValidator).count == 4)
    }

    @Test("refusals: no validators, mismatched admin keys, ports out of range, a bad chain id")
    func refusals() {
        #expect(throws: TestnetPlanError.noValidators) {
            try TestnetPlan(
                chainID: "c", genesisTime: 0, validatorKeys: [], adminKeys: [], observerKeys: [], basePort: 2000)
        }
        #expect(throws: TestnetPlanError.adminKeyCount(expected: 2, actual: 1)) {
            try TestnetPlan(
                chainID: "c", genesisTime: 0, validatorKeys: keys(2, from: 1), adminKeys: keys(1, from: 9),
                observerKeys: [], basePort: 2000)
        }
        #expect(throws: TestnetPlanError.portsOutOfRange(basePort: 65_530, nodeCount: 4)) {
            try TestnetPlan(
                chainID: "c", genesisTime: 0, validatorKeys: keys(4, from: 1), adminKeys: keys(4, from: 9),
                observerKeys: [], basePort: 65_530)
        }
        #expect(throws: TestnetPlanError.genesis(.invalidChainID("Bad"))) {
            try TestnetPlan(
                chainID: "Bad", genesisTime: 0, validatorKeys: keys(1, from: 1), adminKeys: keys(1, from: 9),
                observerKeys: [], basePort: 2000)
        }
    }
}
