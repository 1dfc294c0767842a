import EnsureCrypto

extension NodeConfiguration {
    /// Reads `config.toml` text: every section and key is optional and defaults as documented, but an unknown
    /// section or key, a wrong type or a value out of range is an error naming the key and its line.
    public init(parsing text: String) throws(ConfigurationError) {
        let document: TOMLDocument
        do {
            document = try TOMLDocument(parsing: text)
        } catch {
            throw .syntax(error)
        }
        self.init()
        for table in document.tables {
            let reader = SectionReader(table: table)
            switch table.name {
            case "":
                if let first = table.entries.first { throw .unknownKey(key: first.key, line: first.line) }
            case "node": try reader.read(into: &node)
            case "p2p": try reader.read(into: &p2p)
            case "api": try reader.read(into: &api)
            case "mempool": try reader.read(into: &mempool)
            case "consensus": try reader.read(into: &consensus)
            default: throw .unknownSection(name: table.name, line: table.line)
            }
        }
        guard consensus.maxTimeoutMs >= consensus.baseTimeoutMs else {
            throw .inconsistent(
                reason: "consensus.max_timeout_ms (\(consensus.maxTimeoutMs)) is below consensus.base_timeout_ms "
                    + "(\(consensus.baseTimeoutMs))")
        }
        var peerKeys = Set<Ed25519PublicKey>()
        for peer in p2p.peers where !peerKeys.insert(peer.key).inserted {
            throw .inconsistent(reason: "p2p.peers names key \(peer.key.hex) twice")
        }
    }

    /// The configuration as a commented `config.toml` that ``init(parsing:)`` reads back to an equal value.
    public func renderTOML() -> String {
        let peers =
            p2p.peers.isEmpty
            ? "[]" : "[\n" + p2p.peers.map { "    \(quoted($0.description)),\n" }.joined() + "]"
        return """
            # Ensure node configuration. Relative paths are resolved against the node's home directory.
            # Every key is optional; an unknown key is an error, so a typo never silently keeps a default.

            [node]
            # A human name for logs and dashboards: 1-64 characters of A-Z a-z 0-9 . _ -
            moniker = \(quoted(node.moniker))
            # The node's Ed25519 key file (mode 0600), created by `ensure init` or `ensure keys generate`.
            key_file = \(quoted(node.keyFile))
            # Where the block store and state live.
            data_dir = \(quoted(node.dataDirectory))
            # The network's genesis document, shared by every node of the network.
            genesis_file = \(quoted(node.genesisFile))
            # One of: trace, debug, info, notice, warning, error, critical.
            log_level = \(quoted(node.logLevel.rawValue))

            [p2p]
            # Where this node accepts peers (host:port, [ipv6]:port).
            listen_address = \(quoted(p2p.listenAddress.description))
            # Peers this node dials, as "NODE_KEY_HEX@host:port".
            peers = \(peers)
            # The largest message a peer may send, in bytes.
            max_frame_bytes = \(p2p.maxFrameBytes)
            # Messages and bytes queued per peer while its socket is busy; beyond them new messages are dropped.
            outbound_queue_messages = \(p2p.outboundQueueMessages)
            outbound_queue_bytes = \(p2p.outboundQueueBytes)
            # Received messages and bytes waiting to be processed; beyond them new messages are dropped.
            inbound_buffer_messages = \(p2p.inboundBufferMessages)
            inbound_buffer_bytes = \(p2p.inboundBufferBytes)

            [api]
            # Where the HTTP API listens. Keep it on loopback unless a proxy guards it.
            listen_address = \(quoted(api.listenAddress.description))

            [mempool]
            # Most pending transactions and bytes this node holds.
            max_transactions = \(mempool.maxTransactions)
            max_bytes = \(mempool.maxBytes)
            # Most pending transactions of one signer, and how far ahead of its next committed sequence number
            # a signer's transaction may be.
            max_per_signer = \(mempool.maxPerSigner)
            sequence_window = \(mempool.sequenceWindow)
            # How often the transactions this node's clients submitted go to its peers, in milliseconds: all of one
            # interval in one message per peer. Every message costs each side thread wake-ups and a system call
            # whatever it carries; a longer interval adds up to that much to commit latency.
            gossip_interval_ms = \(mempool.gossipIntervalMs)

            [consensus]
            # The first round timeout, and the cap of its doubling after failed rounds, in milliseconds.
            base_timeout_ms = \(consensus.baseTimeoutMs)
            max_timeout_ms = \(consensus.maxTimeoutMs)
            # As leader, the least time between a block and its child while there is less than a full block to
            # propose (at most a quarter of base_timeout_ms is waited); 0 proposes at once. Fewer, fuller blocks
            # cost less CPU; the floor adds up to about two intervals to commit latency on a quiet chain.
            block_interval_ms = \(consensus.blockIntervalMs)

            """
    }

    private func quoted(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// Typed access to one section's entries, with the section-qualified key in every error.
private struct SectionReader {
    let table: TOMLTable

    func name(_ entry: TOMLEntry) -> String { "\(table.name).\(entry.key)" }

    func string(_ entry: TOMLEntry) throws(ConfigurationError) -> String {
        guard case .string(let value) = entry.value else {
            throw .wrongType(key: name(entry), line: entry.line, expected: "a string", found: entry.value.typeName)
        }
        return value
    }

    func integer(_ entry: TOMLEntry, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard case .integer(let value) = entry.value else {
            throw .wrongType(key: name(entry), line: entry.line, expected: "an integer", found: entry.value.typeName)
        }
        guard let int = Int(exactly: value), range.contains(int) else {
            throw .invalidValue(
                key: name(entry), line: entry.line,
                reason: "must be between \(range.lowerBound) and \(range.upperBound), found \(value)")
        }
        return int
    }

    func path(_ entry: TOMLEntry) throws(ConfigurationError) -> String {
        let value = try string(entry)
        guard !value.isEmpty, !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0 == "\u{7F}" }) else {
            throw .invalidValue(key: name(entry), line: entry.line, reason: "must be a non-empty path")
        }
        return value
    }

    func address(_ entry: TOMLEntry) throws(ConfigurationError) -> NetworkAddress {
        let value = try string(entry)
        guard let address = NetworkAddress(parsing: value) else {
            throw .invalidValue(
                key: name(entry), line: entry.line,
                reason: "\"\(value)\" is not host:port (port 1-65535, IPv6 in brackets)")
        }
        return address
    }

    func unknown(_ entry: TOMLEntry) -> ConfigurationError { .unknownKey(key: name(entry), line: entry.line) }

    func read(into node: inout NodeConfiguration.Node) throws(ConfigurationError) {
        for entry in table.entries {
            switch entry.key {
            case "moniker":
                let value = try string(entry)
                guard (1...64).contains(value.utf8.count),
                    value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) })
                else {
                    throw .invalidValue(
                        key: name(entry), line: entry.line, reason: "must be 1-64 characters of A-Z a-z 0-9 . _ -")
                }
                node.moniker = value
            case "key_file": node.keyFile = try path(entry)
            case "data_dir": node.dataDirectory = try path(entry)
            case "genesis_file": node.genesisFile = try path(entry)
            case "log_level":
                let value = try string(entry)
                guard let level = LogLevel(rawValue: value) else {
                    throw .invalidValue(
                        key: name(entry), line: entry.line,
                        reason: "\"\(value)\" is not one of "
                            + LogLevel.allCases.map(\.rawValue).joined(separator: ", "))
                }
                node.logLevel = level
            default: throw unknown(entry)
            }
        }
    }

    func read(into p2p: inout NodeConfiguration.P2P) throws(ConfigurationError) {
        for entry in table.entries {
            switch entry.key {
            case "listen_address": p2p.listenAddress = try address(entry)
            case "peers":
                guard case .stringArray(let values) = entry.value else {
                    throw .wrongType(
                        key: name(entry), line: entry.line, expected: "an array of strings",
                        found: entry.value.typeName)
                }
                var peers: [PeerEntry] = []
                for (i, value) in values.enumerated() {
                    guard let peer = PeerEntry(parsing: value) else {
                        throw .invalidValue(
                            key: "\(name(entry))[\(i)]", line: entry.line,
                            reason: "\"\(value)\" is not NODE_KEY_HEX@host:port (64 lower-case hex digits)")
                    }
                    peers.append(peer)
                }
                p2p.peers = peers
            case "max_frame_bytes": p2p.maxFrameBytes = try integer(entry, in: 1024...(64 << 20))
            case "outbound_queue_messages": p2p.outboundQueueMessages = try integer(entry, in: 1...1_000_000)
            case "outbound_queue_bytes": p2p.outboundQueueBytes = try integer(entry, in: 1024...(1 << 32))
            case "inbound_buffer_messages": p2p.inboundBufferMessages = try integer(entry, in: 1...1_000_000)
            case "inbound_buffer_bytes": p2p.inboundBufferBytes = try integer(entry, in: 1024...(1 << 34))
            default: throw unknown(entry)
            }
        }
    }

    func read(into api: inout NodeConfiguration.API) throws(ConfigurationError) {
        for entry in table.entries {
            switch entry.key {
            case "listen_address": api.listenAddress = try address(entry)
            default: throw unknown(entry)
            }
        }
    }

    func read(into mempool: inout NodeConfiguration.Mempool) throws(ConfigurationError) {
        for entry in table.entries {
            switch entry.key {
            case "max_transactions": mempool.maxTransactions = try integer(entry, in: 1...10_000_000)
            case "max_bytes": mempool.maxBytes = try integer(entry, in: 1024...(1 << 36))
            case "max_per_signer": mempool.maxPerSigner = try integer(entry, in: 1...1_000_000)
            case "sequence_window": mempool.sequenceWindow = try integer(entry, in: 1...1_000_000)
            case "gossip_interval_ms": mempool.gossipIntervalMs = try integer(entry, in: 1...10_000)
            default: throw unknown(entry)
            }
        }
    }

    func read(into consensus: inout NodeConfiguration.Consensus) throws(ConfigurationError) {
        for entry in table.entries {
            switch entry.key {
            case "base_timeout_ms": consensus.baseTimeoutMs = try integer(entry, in: 10...3_600_000)
            case "max_timeout_ms": consensus.maxTimeoutMs = try integer(entry, in: 10...86_400_000)
            case "block_interval_ms": consensus.blockIntervalMs = try integer(entry, in: 0...60_000)
            default: throw unknown(entry)
            }
        }
    }
}
