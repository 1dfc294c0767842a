import ArgumentParser
import Codec
import EnsureCrypto
import Foundation
import Ledger

/// `ensure incident`: report, update, list and show incidents through a node's API.
struct IncidentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incident",
        abstract: "Report and update security incidents, and read them back.",
        subcommands: [Report.self, Update.self, List.self, Show.self]
    )

    /// An OCSF severity: an id (`4`) or a name (`high`).
    static func severity(_ text: String) throws(CommandFailure) -> IncidentSeverity {
        let names: [String: IncidentSeverity] = [
            "unknown": .unknown, "informational": .informational, "low": .low, "medium": .medium, "high": .high,
            "critical": .critical, "fatal": .fatal, "other": .other,
        ]
        if let id = UInt8(text), let severity = IncidentSeverity(rawValue: id) { return severity }
        guard let severity = names[text.lowercased()] else {
            throw CommandFailure(
                "--severity must be an OCSF severity id (0-6, 99) or name (\(names.keys.sorted().joined(separator: ", ")))"
            )
        }
        return severity
    }

    static func checkIdentifier(_ text: String, option: String) throws(CommandFailure) {
        guard !text.isEmpty, text.utf8.count <= IncidentRecord.Limits.identifierBytes else {
            throw CommandFailure("\(option) must be 1 to \(IncidentRecord.Limits.identifierBytes) bytes")
        }
    }

    /// `ensure incident report`.
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report an incident, signed with a plugin or organization admin key.",
            discussion: """
                The evidence is the SHA-256 of the raw source bytes (--evidence-file hashes a file). With \
                --seal-to and --details-file, the details are sealed (libsodium sealed boxes) to each X25519 key \
                given; the key must be an organization's or regulator's registered incident key.
                """
        )

        @OptionGroup var signing: SigningOptions
        @Option(name: .long, help: "Your id for the incident (unique within your organization).") var id: String
        @Option(name: .long, help: "ENISA RSIT class/type, for example intrusion-attempts/exploit.") var category:
            String
        @Option(name: .long, help: "OCSF severity id or name.") var severity: String
        @Option(name: .long, help: "The affected asset.") var asset: String
        @Option(name: .long, help: "The detector or product that saw it.") var detector: String
        @Option(name: .long, help: "A human-readable summary.") var summary: String
        @Option(name: .customLong("detected-at"), help: "Detection time (ms since 1970 or RFC 3339; default now).")
        var detectedAt: String?
        @Option(name: .customLong("evidence-file"), help: "Hash this file as the evidence.") var evidenceFile: String?
        @Option(name: .customLong("evidence-digest"), help: "The evidence SHA-256 (hex).") var evidenceDigest: String?
        @Option(name: .customLong("evidence-uri"), help: "Where the evidence can be fetched (repeatable).")
        var evidenceURI: [String] = []
        @Option(name: .long, help: "A related incident: id or organization:id (repeatable).") var link: [String] = []
        @Option(name: .customLong("seal-to"), help: "An X25519 key (hex) to seal the details to (repeatable).")
        var sealTo: [String] = []
        @Option(name: .customLong("details-file"), help: "The details to seal.") var detailsFile: String?

        func run() throws {
            let record = try buildRecord(now: UInt64(Date().timeIntervalSince1970 * 1000))
            let outcome = try signing.submit(kind: .incidentReport, payload: record.canonicalBytes)
            print(outcome.render(json: signing.json))
        }

        func buildRecord(now: UInt64) throws -> IncidentRecord {
            try IncidentCommand.checkIdentifier(id, option: "--id")
            guard SecurityIncidentTaxonomy.isValid(category) else {
                throw CommandFailure("--category \"\(category.prefix(80))\" is not an ENISA RSIT class/type")
            }
            let severity = try IncidentCommand.severity(severity)
            try IncidentCommand.checkIdentifier(asset, option: "--asset")
            try IncidentCommand.checkIdentifier(detector, option: "--detector")
            guard summary.utf8.count <= IncidentRecord.Limits.summaryBytes else {
                throw CommandFailure("--summary is longer than \(IncidentRecord.Limits.summaryBytes) bytes")
            }
            let detected =
                try detectedAt.map { (text) throws(CommandFailure) in
                    try OptionParsing.time(text, option: "--detected-at")
                } ?? now
            let digest = try DigestSource(file: evidenceFile, digest: evidenceDigest).resolve()
            guard evidenceURI.count <= IncidentRecord.Limits.evidenceURIs,
                evidenceURI.allSatisfy({ $0.utf8.count <= IncidentRecord.Limits.uriBytes })
            else {
                throw CommandFailure(
                    "--evidence-uri: at most \(IncidentRecord.Limits.evidenceURIs) of at most \(IncidentRecord.Limits.uriBytes) bytes"
                )
            }
            guard link.count <= IncidentRecord.Limits.links else {
                throw CommandFailure("--link: at most \(IncidentRecord.Limits.links)")
            }
            for item in link { try IncidentCommand.checkIdentifier(item, option: "--link") }
            var sealed: [SealedDetail] = []
            switch (sealTo.isEmpty, detailsFile) {
            case (true, nil): break
            case (false, nil): throw CommandFailure("--seal-to needs --details-file")
            case (true, .some): throw CommandFailure("--details-file needs at least one --seal-to")
            case (false, .some(let path)):
                guard let details = FileManager.default.contents(atPath: path) else {
                    throw CommandFailure("--details-file \(path) cannot be read")
                }
                let limit = IncidentRecord.Limits.sealedDetailBytes - SealedBox.overheadByteCount
                guard details.count <= limit else {
                    throw CommandFailure("--details-file \(path) is larger than \(limit) bytes")
                }
                let keys = try sealTo.map { (text) throws(CommandFailure) in
                    try OptionParsing.x25519(text, option: "--seal-to")
                }
                guard Set(keys.map(\.bytes)).count == keys.count, keys.count <= IncidentRecord.Limits.sealedDetails
                else {
                    throw CommandFailure("--seal-to: at most \(IncidentRecord.Limits.sealedDetails) distinct keys")
                }
                sealed = keys.map {
                    SealedDetail(recipient: $0.bytes, ciphertext: SealedBox.seal(Array(details), to: $0))
                }
            }
            return IncidentRecord(
                id: id, detectedAt: detected, category: category, severity: severity, asset: asset, detector: detector,
                summary: summary, evidenceDigest: digest, evidenceURIs: evidenceURI, sealedDetails: sealed, links: link)
        }
    }

    /// `ensure incident update`.
    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move one of your organization's incidents to another status (admin key).")

        @OptionGroup var signing: SigningOptions
        @Option(name: .long, help: "The incident id.") var id: String
        @Option(name: .long, help: "open, acknowledged, mitigating, resolved or false-positive.") var status: String
        @Option(name: .long, help: "What was done.") var note = ""
        @Option(name: .long, help: "A related incident: id or organization:id (repeatable).") var link: [String] = []

        func run() throws {
            let payload = try buildPayload()
            print(try signing.submit(kind: .incidentUpdate, payload: payload.canonicalBytes).render(json: signing.json))
        }

        func buildPayload() throws -> IncidentUpdatePayload {
            try IncidentCommand.checkIdentifier(id, option: "--id")
            guard let parsed = IncidentStatus(name: status) else {
                throw CommandFailure(
                    "--status must be one of \(IncidentStatus.allCases.map(\.name).joined(separator: ", "))")
            }
            guard note.utf8.count <= IncidentUpdatePayload.maxNoteBytes else {
                throw CommandFailure("--note is longer than \(IncidentUpdatePayload.maxNoteBytes) bytes")
            }
            guard link.count <= IncidentRecord.Limits.links else {
                throw CommandFailure("--link: at most \(IncidentRecord.Limits.links)")
            }
            for item in link { try IncidentCommand.checkIdentifier(item, option: "--link") }
            return IncidentUpdatePayload(incidentID: id, status: parsed, note: note, links: link)
        }
    }

    /// `ensure incident list`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List incidents matching filters, oldest detection first; prints the cursor of the next page.",
            discussion: "Members and regulators only: sign with --key or give a --token from `ensure auth token`.")

        @Option(name: .long, help: "The node's API URL.") var node: String
        @Option(name: .long, help: "Reporting organization.") var organization: String?
        @Option(name: .long, help: "Reporting key (hex).") var reporter: String?
        @Option(name: .customLong("class"), help: "RSIT class.") var rsitClass: String?
        @Option(name: .long, help: "RSIT class/type.") var type: String?
        @Option(name: .long, help: "OCSF severity id or name.") var severity: String?
        @Option(name: .long, help: "Status.") var status: String?
        @Option(name: .long, help: "Detected at or after (ms or RFC 3339).") var from: String?
        @Option(name: .long, help: "Detected at or before (ms or RFC 3339).") var to: String?
        @Option(name: .long, help: "Page size, 1 to 500 (default 50).") var limit: Int?
        @Option(name: .long, help: "The cursor a previous page printed.") var cursor: String?
        @OptionGroup var credentials: CredentialOptions
        @Flag(name: .long, help: "Print one JSON object instead of text.") var json = false

        func path() throws -> String {
            if let limit, !(1...500).contains(limit) { throw CommandFailure("--limit must be between 1 and 500") }
            if let severity { _ = try IncidentCommand.severity(severity) }
            if let status, IncidentStatus(name: status) == nil {
                throw CommandFailure(
                    "--status must be one of \(IncidentStatus.allCases.map(\.name).joined(separator: ", "))")
            }
            if let reporter { _ = try OptionParsing.ed25519(reporter, option: "--reporter") }
            if let organization { _ = try OptionParsing.organization(organization, option: "--organization") }
            return "/v1/incidents"
                + OptionParsing.query([
                    ("organization", organization), ("reporter", reporter), ("class", rsitClass), ("type", type),
                    ("severity", severity), ("status", status), ("from", from), ("to", to),
                    ("limit", limit.map(String.init)), ("cursor", cursor),
                ])
        }

        func run() throws {
            let path = try path()
            var client = try NodeClient(url: node)
            client.credential = try credentials.credential()
            let answer: IncidentsAnswer = try client.get(path)
            if json {
                print(NodeAPI.JSONLine.render(answer))
                return
            }
            for incident in answer.incidents { print(incident.line) }
            if let next = answer.nextCursor { print("next page: --cursor \(next)") }
        }
    }

    /// `ensure incident show ORG/ID`.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one incident and its updates.",
            discussion: "Members and regulators only: sign with --key or give a --token from `ensure auth token`.")

        @Option(name: .long, help: "The node's API URL.") var node: String
        @Argument(help: "organization/id") var incident: String
        @OptionGroup var credentials: CredentialOptions
        @Flag(name: .long, help: "Print one JSON object instead of text.") var json = false

        func run() throws {
            guard let slash = incident.firstIndex(of: "/") else {
                throw CommandFailure("the incident must be given as organization/id")
            }
            let organization = try OptionParsing.organization(String(incident[..<slash]), option: "organization")
            let id = String(incident[incident.index(after: slash)...])
            try IncidentCommand.checkIdentifier(id, option: "id")
            var client = try NodeClient(url: node)
            client.credential = try credentials.credential()
            guard
                let answer: IncidentAnswer = try client.getIfFound(
                    "/v1/incidents/\(organization)/\(OptionParsing.segment(id))")
            else {
                throw CommandFailure("node \(client.base) knows no incident \(organization):\(id)")
            }
            if json {
                print(NodeAPI.JSONLine.render(answer))
                return
            }
            let i = answer.incident
            var lines = [
                i.line, "summary:  \(i.summary)", "asset:    \(i.asset)", "detector: \(i.detector)",
                "evidence: \(i.evidenceDigest) \(i.evidenceURIs.joined(separator: " "))",
                "reporter: \(i.reporter)", "reported: height \(i.reportedHeight), leaf \(i.reportLeaf)",
            ]
            if !i.links.isEmpty { lines.append("links:    \(i.links.joined(separator: ", "))") }
            if !i.sealedTo.isEmpty { lines.append("sealed to: \(i.sealedTo.joined(separator: ", "))") }
            for update in answer.updates {
                lines.append("  height \(update.height): \(update.status) \(update.note)")
            }
            print(lines.joined(separator: "\n"))
        }
    }
}

/// An incident as the CLI reads it.
struct IncidentJSON: Codable {
    var organization: String
    var id: String
    var reporter: String
    var status: String
    var detectedAt: UInt64
    var category: String
    var severityName: String
    var asset: String
    var detector: String
    var summary: String
    var evidenceDigest: String
    var evidenceURIs: [String]
    var sealedTo: [String]
    var links: [String]
    var reportLeaf: UInt64
    var reportedHeight: UInt64

    var line: String {
        let time = Date(timeIntervalSince1970: Double(detectedAt) / 1000).ISO8601Format()
        return "\(organization)/\(id)  \(time)  \(status)  \(severityName)  \(category)"
    }
}

/// `GET /v1/incidents`.
struct IncidentsAnswer: Codable {
    var height: UInt64
    var incidents: [IncidentJSON]
    var nextCursor: String?
}

/// `GET /v1/incidents/{organization}/{id}`.
struct IncidentAnswer: Codable {
    struct Update: Codable {
        var leaf: UInt64
        var status: String
        var note: String
        var height: UInt64
    }

    var height: UInt64
    var incident: IncidentJSON
    var updates: [Update]
}
