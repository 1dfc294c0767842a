public import EnsureCrypto
import Foundation

/// A `host:port` a node listens on or dials. Hosts are an IPv4 address, a bracketed IPv6 address or a DNS name.
public struct NetworkAddress: Hashable, Sendable, CustomStringConvertible {
    /// The host, without brackets for IPv6.
    public let host: String
    /// TCP port, 1 to 65535.
    public let port: Int

    /// An address; nil if the host or port is malformed.
    public init?(host: String, port: Int) {
        guard (1...65_535).contains(port), Self.isValidHost(host) else { return nil }
        self.host = host
        self.port = port
    }

    /// Parses `host:port` or `[ipv6]:port`.
    public init?(parsing text: String) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                return nil
            }
            host = text[text.index(after: text.startIndex)..<close]
            guard host.contains(":") else { return nil }
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            guard !host.contains(":") else { return nil }
            portText = text[text.index(after: colon)...]
        }
        guard !portText.isEmpty, portText.allSatisfy({ $0.isASCII && $0.isNumber }), portText.count <= 5,
            let port = Int(portText), !(portText.hasPrefix("0"))
        else { return nil }
        self.init(host: String(host), port: port)
    }

    /// Whether `host` is a DNS name or IPv4 address (letters, digits, `-`, `.`, labels of 1 to 63) or an IPv6
    /// address (hex digits, `:` and `.`).
    static func isValidHost(_ host: String) -> Bool {
        guard !host.isEmpty, host.utf8.count <= 253, host.allSatisfy(\.isASCII) else { return false }
        if host.contains(":") {
            return host.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" }
        }
    }

    /// `host:port`, bracketing an IPv6 host.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A peer a node dials: `key@host:port`, where key is the peer's Ed25519 node key in hex.
public struct PeerEntry: Hashable, Sendable, CustomStringConvertible {
    /// The node key the peer must prove in the handshake.
    public let key: Ed25519PublicKey
    /// Where it listens.
    public let address: NetworkAddress

    /// A peer at `address` holding `key`.
    public init(key: Ed25519PublicKey, address: NetworkAddress) {
        self.key = key
        self.address = address
    }

    /// Parses `key@host:port`; nil if any part is malformed.
    public init?(parsing text: String) {
        guard let at = text.firstIndex(of: "@") else { return nil }
        let keyText = String(text[..<at])
        guard keyText.count == 64, keyText == keyText.lowercased(), let key = Ed25519PublicKey(hex: keyText),
            let address = NetworkAddress(parsing: String(text[text.index(after: at)...]))
        else { return nil }
        self.init(key: key, address: address)
    }

    /// `key@host:port`.
    public var description: String { "\(key.hex)@\(address)" }
}

/// How much a node logs.
public enum LogLevel: String, CaseIterable, Hashable, Sendable {
    case trace, debug, info, notice, warning, error, critical
}

/// A node's `config.toml`: what this one node needs that the network does not agree on (the genesis holds that).
/// Paths are relative to the node's home directory unless absolute.
public struct NodeConfiguration: Hashable, Sendable {
    /// The file name inside a home directory.
    public static let fileName = "config.toml"

    /// `[node]`: identity and local files.
    public struct Node: Hashable, Sendable {
        /// A human name for logs and dashboards: 1 to 64 characters of `[A-Za-z0-9._-]`.
        public var moniker: String = "node"
        /// The node's Ed25519 key file.
        public var keyFile: String = "keys/node.key"
        /// The directory of the block store and state.
        public var dataDirectory: String = "data"
        /// The network's genesis document.
        public var genesisFile: String = "genesis.json"
        /// How much the node logs.
        public var logLevel: LogLevel = .info
    }

    /// `[p2p]`: the peer transport.
    public struct P2P: Hashable, Sendable {
        /// Where the node accepts peers.
        public var listenAddress = NetworkAddress(host: "0.0.0.0", port: 26_656)!
        /// The peers it dials.
        public var peers: [PeerEntry] = []
        /// The largest message in bytes.
        public var maxFrameBytes = 4 << 20
        /// Messages queued per peer while its socket is busy.
        public var outboundQueueMessages = 1024
        /// Bytes queued per peer while its socket is busy.
        public var outboundQueueBytes = 16 << 20
        /// Received messages waiting to be processed.
        public var inboundBufferMessages = 4096
        /// Received bytes waiting to be processed.
        public var inboundBufferBytes = 64 << 20
    }

    /// `[api]`: the HTTP API.
    public struct API: Hashable, Sendable {
        /// Where the API listens; loopback by default.
        public var listenAddress = NetworkAddress(host: "127.0.0.1", port: 8080)!
    }

    /// `[mempool]`: this node's pending-transaction pool.
    public struct Mempool: Hashable, Sendable {
        /// Most pending transactions.
        public var maxTransactions = 20_000
        /// Most pending bytes.
        public var maxBytes = 64 << 20
        /// Most pending transactions of one signer (a plugin or an organization's batch job).
        public var maxPerSigner = 4_096
        /// How far ahead of its next committed sequence number a signer's pending transaction may be.
        public var sequenceWindow = 8_192
        /// How often, in milliseconds, the transactions this node's clients submitted are sent to its peers, all
        /// of one interval in one message per peer.
        public var gossipIntervalMs = 50
    }

    /// `[consensus]`: this node's round timers.
    public struct Consensus: Hashable, Sendable {
        /// The first round timeout, in milliseconds.
        public var baseTimeoutMs = 1_000
        /// The cap of the doubling round timeout, in milliseconds.
        public var maxTimeoutMs = 60_000
        /// The least time, in milliseconds, this node as leader keeps between a block and its child when it has
        /// transactions but less than a full block; 0 proposes as soon as it may.
        public var blockIntervalMs = 100
    }

    /// `[node]`.
    public var node = Node()
    /// `[p2p]`.
    public var p2p = P2P()
    /// `[api]`.
    public var api = API()
    /// `[mempool]`.
    public var mempool = Mempool()
    /// `[consensus]`.
    public var consensus = Consensus()

    /// The defaults, as ``renderTOML()`` writes them.
    public init() {}

    /// `path` resolved against `home` when it is relative.
    public static func resolve(_ path: String, home: String) -> String {
        if path.hasPrefix("/") { return path }
        return URL(fileURLWithPath: home).appendingPathComponent(path).standardizedFileURL.path
    }

    /// The key file's path for a node whose home is `home`.
    public func keyFilePath(home: String) -> String { Self.resolve(node.keyFile, home: home) }
    /// The data directory's path for a node whose home is `home`.
    public func dataDirectoryPath(home: String) -> String { Self.resolve(node.dataDirectory, home: home) }
    /// The genesis file's path for a node whose home is `home`.
    public func genesisFilePath(home: String) -> String { Self.resolve(node.genesisFile, home: home) }

    /// Reads `home/config.toml`; errors name the file.
    public static func load(home: String) throws(ConfigurationError) -> NodeConfiguration {
        let path = Self.resolve(fileName, home: home)
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadable(path: path, reason: "cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .unreadable(path: path, reason: "is not UTF-8 text")
        }
        do {
            return try NodeConfiguration(parsing: text)
        } catch {
            throw .inFile(path: path, error)
        }
    }
}

/// Why a configuration was refused; every case names the key and line.
public indirect enum ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The text is not in the supported TOML subset.
    case syntax(TOMLError)
    /// A `[section]` this version does not know.
    case unknownSection(name: String, line: Int)
    /// A key this version does not know (a typo never falls back to a default).
    case unknownKey(key: String, line: Int)
    /// A key has a value of the wrong TOML type.
    case wrongType(key: String, line: Int, expected: String, found: String)
    /// A key's value is of the right type but not allowed.
    case invalidValue(key: String, line: Int, reason: String)
    /// Two settings contradict each other.
    case inconsistent(reason: String)
    /// The file could not be read.
    case unreadable(path: String, reason: String)
    /// An error in the named file.
    case inFile(path: String, ConfigurationError)

    public var description: String {
        switch self {
        case .syntax(let error): return "config: \(error)"
        case .unknownSection(let name, let line): return "line \(line): unknown section [\(name)]"
        case .unknownKey(let key, let line): return "line \(line): unknown key \(key)"
        case .wrongType(let key, let line, let expected, let found):
            return "line \(line): \(key) must be \(expected), found \(found)"
        case .invalidValue(let key, let line, let reason): return "line \(line): \(key) \(reason)"
        case .inconsistent(let reason): return reason
        case .unreadable(let path, let reason): return "\(path) \(reason)"
        case .inFile(let path, let error): return "\(path): \(error)"
        }
    }
}
