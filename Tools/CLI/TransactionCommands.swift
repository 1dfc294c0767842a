import ArgumentParser
import Codec
import EnsureCrypto
import Foundation
import Ledger

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `ensure notarize`: anchor the SHA-256 of a file (or a given digest) on the ledger through a node's API.
struct NotarizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notarize",
        abstract: "Notarize the SHA-256 of a file or a given digest, signed with an organization admin key.",
        discussion: """
            Asks the node for the chain id and, unless --sequence is given, for the key's next sequence number; \
            signs a notarize transaction and submits it. With --wait, polls until the transaction is committed \
            and prints its height and block id.
            """
    )

    @Option(name: .long, help: "The organization admin key file.")
    var key: String

    @OptionGroup var passphrase: PassphraseSource

    @Option(name: .long, help: "The node's API URL, for example http://127.0.0.1:26601.")
    var node: String

    @Option(name: .long, help: "Notarize the SHA-256 of this file.")
    var file: String?

    @Option(name: .long, help: "Notarize this SHA-256 (64 hexadecimal characters).")
    var digest: String?

    @Option(name: .long, help: "What the digest is of (at most 256 UTF-8 bytes).")
    var label = ""

    @Option(name: .long, help: "The sequence number to sign with (default: the node's next one for the key).")
    var sequence: UInt64?

    @Option(name: .long, help: "Wait up to this many seconds for the transaction to be committed.")
    var wait: Double?

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        let target = try DigestSource(file: file, digest: digest)
        guard label.utf8.count <= NotarizePayload.maxLabelBytes else {
            throw CommandFailure("--label is longer than \(NotarizePayload.maxLabelBytes) UTF-8 bytes")
        }
        if let sequence, sequence == 0 { throw CommandFailure("--sequence must be at least 1") }
        if let wait, !(wait >= 0 && wait <= 86_400) {
            throw CommandFailure("--wait must be a number of seconds between 0 and 86400")
        }
        let client = try NodeClient(url: node)
        let admin = try readKey()
        // The label's length was checked above, so this cannot throw.
        let notarized = try NotarizePayload(digest: target.resolve(), label: label)

        let status: NodeAPI.StatusAnswer = try client.get("/v1/status")
        guard ChainID.isValid(status.chainID) else {
            throw CommandFailure("node \(client.base) answered an invalid chain id \"\(status.chainID.prefix(80))\"")
        }
        let sequence: UInt64
        if let given = self.sequence {
            sequence = given
        } else {
            let account: NodeAPI.AccountAnswer = try client.get("/v1/accounts/\(admin.publicKey.hex)")
            sequence = account.nextSequence
        }
        let transaction = Transaction(
            chainID: status.chainID, sequence: sequence, kind: .notarize, payload: notarized.canonicalBytes,
            signedBy: admin)
        let submitted: NodeAPI.SubmissionAnswer = try client.post(
            "/v1/transactions", json: NodeAPI.SubmissionRequest(transaction: Base64.encode(transaction.canonicalBytes)))
        guard submitted.id == transaction.id.hex else {
            throw CommandFailure(
                "node \(client.base) answered transaction id \(submitted.id.prefix(80)), expected \(transaction.id.hex)"
            )
        }
        var outcome = NodeAPI.NotarizeOutcome(
            id: submitted.id, status: submitted.status, height: submitted.height, blockID: nil,
            digest: notarized.digest.hex, label: notarized.label, signer: admin.publicKey.hex, sequence: sequence)
        if let wait, submitted.status != "committed" {
            let final = try client.waitForCommit(of: transaction.id, seconds: wait)
            outcome.status = final.status
            outcome.height = final.height
            outcome.blockID = final.blockID
        }
        print(outcome.render(json: json))
    }

    private func readKey() throws -> Ed25519PrivateKey {
        let secret = try passphrase.read()
        do {
            return try KeyFile.read(from: key, passphrase: secret).privateKey
        } catch .passphraseRequired(let path) {
            throw CommandFailure(
                "key file \(path) is encrypted; give its passphrase with --passphrase-file FILE or the "
                    + "\(PassphraseSource.environmentVariable) environment variable")
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}

/// `ensure tx`: look at transactions through a node's API.
struct TransactionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tx",
        abstract: "Look up transactions on a node.",
        subcommands: [Status.self]
    )

    /// `ensure tx status`: where a transaction stands.
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print whether a transaction is pending, committed (height, position, block) or dropped."
        )

        @Option(name: .long, help: "The node's API URL, for example http://127.0.0.1:26601.")
        var node: String

        @Argument(help: "The transaction id (64 hexadecimal characters).")
        var id: String

        @Flag(name: .long, help: "Print one JSON object instead of text.")
        var json = false

        func run() throws {
            guard id.utf8.count == 64, let digest = Digest(hex: id) else {
                throw CommandFailure("transaction id must be 64 hexadecimal characters, got \"\(id.prefix(80))\"")
            }
            let client = try NodeClient(url: node)
            guard let answer: NodeAPI.TransactionAnswer = try client.getIfFound("/v1/transactions/\(digest.hex)") else {
                throw CommandFailure("node \(client.base) knows no transaction \(digest.hex)")
            }
            print(answer.render(json: json))
        }
    }
}

/// `ensure notarization`: look at notarizations through a node's API.
struct NotarizationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notarization",
        abstract: "Look up notarizations on a node.",
        subcommands: [Show.self]
    )

    /// `ensure notarization show`: the committed record of a digest or a file.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the committed notarization of a digest, or check that a file was notarized.",
            discussion: "With --file, the file's SHA-256 is looked up and must equal the record's digest."
        )

        @Option(name: .long, help: "The node's API URL, for example http://127.0.0.1:26601.")
        var node: String

        @Option(name: .long, help: "The notarized SHA-256 (64 hexadecimal characters).")
        var digest: String?

        @Option(name: .long, help: "A file whose SHA-256 must have been notarized.")
        var file: String?

        @Flag(name: .long, help: "Print one JSON object instead of text.")
        var json = false

        func run() throws {
            let target = try DigestSource(file: file, digest: digest)
            let client = try NodeClient(url: node)
            let expected = try target.resolve()
            let what = file.map { "\(expected.hex) (SHA-256 of \($0))" } ?? expected.hex
            guard let record: NodeAPI.NotarizationAnswer = try client.getIfFound("/v1/notarizations/\(expected.hex)")
            else {
                throw CommandFailure("node \(client.base) has no committed notarization of \(what)")
            }
            guard record.digest == expected.hex else {
                throw CommandFailure(
                    "node \(client.base) answered a record of digest \(record.digest.prefix(80)), not of \(what)")
            }
            print(record.render(json: json, file: file))
        }
    }
}

// MARK: - What is notarized

/// Exactly one of `--file` and `--digest`, checked before anything else happens.
enum DigestSource {
    case file(String)
    case digest(Digest)

    init(file: String?, digest: String?) throws(CommandFailure) {
        switch (file, digest) {
        case (.some, .some):
            throw CommandFailure("give either --file or --digest, not both")
        case (nil, nil):
            throw CommandFailure("give --file PATH or --digest HEX")
        case (.some(let path), nil):
            self = .file(path)
        case (nil, .some(let hex)):
            guard hex.utf8.count == 64, let value = Digest(hex: hex) else {
                throw CommandFailure(
                    "--digest must be 64 hexadecimal characters (a SHA-256), got \"\(hex.prefix(80))\"")
            }
            self = .digest(value)
        }
    }

    /// The digest: given, or the SHA-256 of the file, read in 1 MiB chunks.
    func resolve() throws(CommandFailure) -> Digest {
        switch self {
        case .digest(let digest):
            return digest
        case .file(let path):
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw CommandFailure("cannot read file \(path)")
            }
            defer { try? handle.close() }
            var hasher = SHA256.Hasher()
            while true {
                let chunk: Data?
                do {
                    chunk = try handle.read(upToCount: 1 << 20)
                } catch {
                    throw CommandFailure("cannot read file \(path): \(error.localizedDescription)")
                }
                guard let chunk, !chunk.isEmpty else { break }
                hasher.update(Array(chunk))
            }
            return hasher.finalize()
        }
    }
}

// MARK: - The node's API

/// A blocking client of one node's HTTP API (docs/api.md). Every failure becomes one ``CommandFailure`` line
/// that names the node and, for refusals, the problem code and detail the node gave.
struct NodeClient {
    /// The API base URL as given, without a trailing slash.
    let base: String
    /// Sent with every request when set: a signature (RFC 9421) or a bearer token.
    var credential: NodeCredential?
    /// How long one request may take.
    static let requestTimeout: TimeInterval = 15

    init(url: String) throws(CommandFailure) {
        var text = url
        while text.hasSuffix("/") { text.removeLast() }
        guard let parsed = URL(string: text), let scheme = parsed.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = parsed.host, !host.isEmpty
        else {
            throw CommandFailure(
                "--node must be an http:// or https:// URL such as http://127.0.0.1:26601, got \"\(url)\"")
        }
        base = text
    }

    /// GETs `path` and decodes a 200 answer.
    func get<Answer: Decodable>(_ path: String) throws(CommandFailure) -> Answer {
        let answer = try send("GET", path)
        guard answer.status == 200 else { throw refusal(answer, path: path) }
        return try decode(answer, path: path)
    }

    /// GETs `path`; nil when the node answers 404 with a problem whose code starts with `unknown-`.
    func getIfFound<Answer: Decodable>(_ path: String) throws(CommandFailure) -> Answer? {
        let answer = try send("GET", path)
        if answer.status == 404, let problem = answer.problem, problem.type.hasPrefix("urn:ensure:problem:unknown-") {
            return nil
        }
        guard answer.status == 200 else { throw refusal(answer, path: path) }
        return try decode(answer, path: path)
    }

    /// POSTs `body` as JSON to `path` and decodes a 200 or 202 answer.
    func post<Answer: Decodable>(_ path: String, json body: some Encodable) throws(CommandFailure) -> Answer {
        let data: Data
        do {
            data = try JSONEncoder().encode(body)
        } catch {
            throw CommandFailure("cannot encode the request to \(path): \(error)")
        }
        let answer = try send("POST", path, body: data)
        guard answer.status == 200 || answer.status == 202 else { throw refusal(answer, path: path) }
        return try decode(answer, path: path)
    }

    /// Polls the transaction every half second until it is committed, or fails when it is dropped, committed
    /// as failed, or `seconds` pass.
    func waitForCommit(of id: Digest, seconds: Double) throws(CommandFailure) -> NodeAPI.TransactionAnswer {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let answer: NodeAPI.TransactionAnswer? = try getIfFound("/v1/transactions/\(id.hex)")
            if let answer, answer.status == "committed" { return answer }
            if let answer, answer.status == "failed" {
                throw CommandFailure(
                    "transaction \(id.hex) was committed at height \(answer.height ?? 0) but failed: "
                        + "\(answer.code ?? "failed"): \(answer.reason ?? "no reason given")")
            }
            if let answer, answer.status == "dropped" {
                throw CommandFailure(
                    "transaction \(id.hex) was dropped by node \(base): \(answer.reason ?? "no reason given")")
            }
            guard Date() < deadline else {
                throw CommandFailure(
                    "transaction \(id.hex) was not committed within \(seconds) seconds; it is "
                        + "\(answer?.status ?? "unknown to the node"); check later with `ensure tx status`")
            }
            Thread.sleep(forTimeInterval: min(0.5, max(0, deadline.timeIntervalSinceNow)))
        }
    }

    private func decode<Answer: Decodable>(_ answer: HTTPAnswer, path: String) throws(CommandFailure) -> Answer {
        do {
            return try JSONDecoder().decode(Answer.self, from: answer.body)
        } catch {
            throw CommandFailure("node \(base) answered \(path) with a body this client does not understand")
        }
    }

    private func refusal(_ answer: HTTPAnswer, path: String) -> CommandFailure {
        if let problem = answer.problem {
            let code = problem.type.replacingOccurrences(of: "urn:ensure:problem:", with: "")
            return CommandFailure("node \(base) refused \(path): \(code) (HTTP \(answer.status)): \(problem.detail)")
        }
        return CommandFailure("node \(base) answered \(path) with HTTP \(answer.status)")
    }

    private func send(_ method: String, _ path: String, body: Data? = nil) throws(CommandFailure) -> HTTPAnswer {
        guard let url = URL(string: base + path) else { throw CommandFailure("cannot form a URL from \(base)\(path)") }
        var request = URLRequest(url: url, timeoutInterval: Self.requestTimeout)
        request.httpMethod = method
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        switch credential {
        case .key(let key)?:
            let headers = RequestSigner(key: key).headers(
                method: method, url: url, body: body, created: Int64(Date().timeIntervalSince1970),
                nonce: Base64.encodeURL(SecureRandom.bytes(16)))
            for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        case .token(let token)?:
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        case nil:
            break
        }
        let completion = Completion()
        let done = DispatchSemaphore(value: 0)
        let task = URLSession.shared.dataTask(with: request) { data, response, error in
            if let error {
                completion.set(.failure(error.localizedDescription))
            } else if let response = response as? HTTPURLResponse {
                completion.set(.success(HTTPAnswer(status: response.statusCode, body: data ?? Data())))
            } else {
                completion.set(.failure("no HTTP response"))
            }
            done.signal()
        }
        task.resume()
        done.wait()
        switch completion.get() {
        case .success(let answer):
            return answer
        case .failure(let reason):
            throw CommandFailure("cannot reach node \(base): \(reason)")
        case nil:
            throw CommandFailure("cannot reach node \(base): the request ended without an answer")
        }
    }
}

/// A status code and body.
struct HTTPAnswer: Sendable {
    var status: Int
    var body: Data

    /// The body as an RFC 9457 problem document, if it is one.
    var problem: NodeAPI.Problem? { try? JSONDecoder().decode(NodeAPI.Problem.self, from: body) }
}

/// A URLSession completion handed to the thread that waits for it.
private enum CompletionResult: Sendable {
    case success(HTTPAnswer)
    case failure(String)
}

/// The completion handler runs on URLSession's queue and the command's thread reads the result after the
/// semaphore; the lock makes that hand-over safe whatever the ordering, which is why this class is Sendable.
private final class Completion: @unchecked Sendable {
    private let lock = NSLock()
    private var result: CompletionResult?

    func set(_ value: CompletionResult) {
        lock.withLock { result = value }
    }

    func get() -> CompletionResult? {
        lock.withLock { result }
    }
}

// MARK: - Documents of the API

/// The JSON documents of a node's API (docs/api.md) as this client reads and prints them.
enum NodeAPI {
    /// An RFC 9457 problem document.
    struct Problem: Decodable {
        var type: String
        var detail: String
    }

    /// `GET /v1/status`, the part the client needs.
    struct StatusAnswer: Decodable {
        var chainID: String
    }

    /// `GET /v1/accounts/{key}`.
    struct AccountAnswer: Decodable {
        var key: String
        var nextSequence: UInt64
    }

    /// `POST /v1/transactions` body.
    struct SubmissionRequest: Encodable {
        var transaction: String
    }

    /// `POST /v1/transactions` answer.
    struct SubmissionAnswer: Decodable {
        var id: String
        var status: String
        var height: UInt64?
    }

    /// `GET /v1/transactions/{id}`.
    struct TransactionAnswer: Codable {
        var id: String
        var status: String
        var height: UInt64?
        var index: Int?
        var blockID: String?
        var code: String?
        var reason: String?

        func render(json: Bool) -> String {
            if json { return JSONLine.render(self) }
            var lines = ["transaction: \(id)", "status:      \(status)"]
            if let height { lines.append("height:      \(height)") }
            if let index { lines.append("index:       \(index)") }
            if let blockID { lines.append("block:       \(blockID)") }
            if let code { lines.append("code:        \(code)") }
            if let reason { lines.append("reason:      \(reason)") }
            return lines.joined(separator: "\n")
        }
    }

    /// `GET /v1/notarizations/{digest}`.
    struct NotarizationAnswer: Codable {
        var digest: String
        var label: String
        var signer: String
        var transactionID: String
        var height: UInt64
        var timestamp: UInt64

        func render(json: Bool, file: String?) -> String {
            if json {
                struct Checked: Encodable {
                    var record: NotarizationAnswer
                    var file: String?
                    var fileMatches: Bool?
                }
                return JSONLine.render(Checked(record: self, file: file, fileMatches: file == nil ? nil : true))
            }
            let time = Date(timeIntervalSince1970: Double(timestamp) / 1000)
            var lines = [
                "digest:      \(digest)",
                "label:       \(label)",
                "signer:      \(signer)",
                "transaction: \(transactionID)",
                "height:      \(height)",
                "time:        \(time.ISO8601Format()) (\(timestamp) ms)",
            ]
            if let file { lines.append("file:        \(file) matches the notarized digest") }
            return lines.joined(separator: "\n")
        }
    }

    /// What `ensure notarize` prints.
    struct NotarizeOutcome: Encodable {
        var id: String
        var status: String
        var height: UInt64?
        var blockID: String?
        var digest: String
        var label: String
        var signer: String
        var sequence: UInt64

        func render(json: Bool) -> String {
            if json { return JSONLine.render(self) }
            var lines = ["transaction: \(id)", "status:      \(status)"]
            if let height { lines.append("height:      \(height)") }
            if let blockID { lines.append("block:       \(blockID)") }
            lines.append("digest:      \(digest)")
            if !label.isEmpty { lines.append("label:       \(label)") }
            lines.append("signer:      \(signer)")
            lines.append("sequence:    \(sequence)")
            return lines.joined(separator: "\n")
        }
    }

    /// One JSON object on one line, keys sorted.
    enum JSONLine {
        static func render(_ value: some Encodable) -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            guard let data = try? encoder.encode(value) else { return "{}" }
            return String(decoding: data, as: UTF8.self)
        }
    }
}
