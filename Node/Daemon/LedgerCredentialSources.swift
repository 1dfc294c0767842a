public import API
public import Credentials
import Crypto
import Foundation
public import Ledger
public import Logging

/// The verifier's view of the ledger: issuers approved by governance and the latest status list token each issuer
/// published, read from the node's own committed state. Checking a credential therefore never contacts its issuer.
///
/// Every lookup takes one LevelDB snapshot (through ``LedgerQueries``), so an answer belongs to one committed block.
/// A lookup that cannot be answered (absent, corrupt, badly signed) is nil, and the reason is logged; the verifier
/// turns nil into `unknown_issuer` or `status_list_unavailable`.
public struct LedgerCredentialSources: IssuerRegistry, StatusListSource {
    /// The committed-state reader.
    public let queries: LedgerQueries
    private let clock: @Sendable () -> Int64
    private let logger: Logger

    /// Sources over `queries`; `clock` gives Unix seconds (a status list token's `exp` and key windows are checked
    /// against it).
    public init(
        queries: LedgerQueries, clock: @escaping @Sendable () -> Int64,
        logger: Logger = Logger(label: "ensure.credentials")
    ) {
        self.queries = queries
        self.clock = clock
        self.logger = logger
    }

    /// The issuer registered under `identifier` as the verifier sees it, or nil when none is (or its record cannot
    /// be read).
    public func issuer(_ identifier: String) -> RegisteredIssuer? {
        guard let (record, sponsored) = loadIssuer(identifier) else { return nil }
        return Self.registeredIssuer(record, sponsored: sponsored, logger: logger)
    }

    /// The current list published under `uri`: the stored token, verified with its issuer's registered keys (found
    /// by the header `kid`, valid now, not revoked, and if retired, retired only after the block that published the
    /// token), its `sub` equal to `uri`, not expired. Nil when absent or invalid.
    public func statusList(uri: String) -> StatusList? {
        let entry: StatusListEntry?
        do {
            entry = try statusListEntry(uri: uri).value
        } catch {
            logger.warning("status list unreadable", metadata: ["uri": "\(uri)", "error": "\(error)"])
            return nil
        }
        guard let entry else {
            logger.info("no status list published", metadata: ["uri": "\(uri)"])
            return nil
        }
        guard let (record, sponsored) = loadIssuer(entry.issuer) else {
            logger.warning(
                "status list issuer is not registered", metadata: ["uri": "\(uri)", "issuer": "\(entry.issuer)"])
            return nil
        }
        let issuer = Self.registeredIssuer(record, sponsored: sponsored, logger: logger)
        let now = clock()
        do {
            return try StatusListToken.verify(entry.token, expectedURI: uri, now: now) { kid in
                guard let kid else { return nil }
                // The ledger attests when the token was published (ms): a key retired before then did not sign it
                // legitimately. Key ids are compared as bytes, as the ledger does.
                let retiredBeforePublication = record.signingKeys.contains {
                    $0.keyID.utf8.elementsEqual(kid.utf8) && ($0.retiredFrom.map { entry.timestamp > $0 } ?? false)
                }
                guard !retiredBeforePublication else { return nil }
                return issuer.keys.first {
                    ($0.jwk.kid?.utf8.elementsEqual(kid.utf8) ?? false) && $0.isValid(issuedAt: now, now: now)
                        && !$0.revoked
                }?.jwk
            }
        } catch {
            logger.warning(
                "stored status list token refused",
                metadata: ["uri": "\(uri)", "version": "\(entry.listVersion)", "error": "\(error)"])
            return nil
        }
    }

    /// The stored entry of `uri` (the token exactly as published), at the committed height.
    public func statusListEntry(uri: String) throws(LedgerQueryError) -> CommittedRead<StatusListEntry?> {
        let view = try queries.view()
        return CommittedRead(height: view.height, value: try view.load(StatusListEntry.self, StateKeys.statusList(uri)))
    }

    /// The issuer's record and whether its sponsoring organization is still a member, from one snapshot.
    private func loadIssuer(_ identifier: String) -> (record: IssuerRecord, sponsored: Bool)? {
        do {
            let view = try queries.view()
            guard let record = try view.load(IssuerRecord.self, StateKeys.issuer(identifier)) else { return nil }
            return (record, try view.get(StateKeys.organization(record.organization)) != nil)
        } catch {
            logger.warning("issuer record unreadable", metadata: ["issuer": "\(identifier)", "error": "\(error)"])
            return nil
        }
    }

    /// The library's form of a ledger issuer record: each key as a P-256 JWK with its `kid`, its window in seconds
    /// intersected with the issuer's approval window, its retirement (seconds, rounded down: a credential whose
    /// `iat` is later is refused) and revocation, the allowed `vct` values and the delisting mark. A key whose
    /// coordinates are not a point on P-256 is left out (and logged). An issuer whose sponsoring organization is no
    /// longer a member (`sponsored` false) counts as delisted: its approval ended with its sponsor's membership.
    public static func registeredIssuer(_ record: IssuerRecord, sponsored: Bool = true, logger: Logger? = nil)
        -> RegisteredIssuer
    {
        var keys: [IssuerKey] = []
        for key in record.signingKeys {
            guard let publicKey = try? P256.Signing.PublicKey(rawRepresentation: key.x + key.y) else {
                logger?.warning(
                    "issuer key is not a P-256 point",
                    metadata: ["issuer": "\(record.identifier)", "kid": "\(key.keyID)"])
                continue
            }
            // Seconds, rounded inwards: the key is never accepted a moment outside its window.
            let notBefore = max(key.notBefore, record.validFrom)
            let notAfter = min(key.notAfter, record.validUntil)
            keys.append(
                IssuerKey(
                    jwk: PublicJWK(key: .p256(publicKey), kid: key.keyID),
                    notBefore: Int64(notBefore / 1000 + (notBefore % 1000 == 0 ? 0 : 1)),
                    notAfter: Int64(notAfter / 1000), retiredFrom: key.retiredFrom.map { Int64($0 / 1000) },
                    revoked: key.revokedAt != nil))
        }
        return RegisteredIssuer(
            identifier: record.identifier, keys: keys, allowedVCTs: Set(record.credentialTypes),
            delisted: record.delisted || !sponsored)
    }
}

/// The node's verifier: its presentation requests (single-use nonces, in memory) and a ``PresentationVerifier``
/// over ``LedgerCredentialSources``. Presentations are checked against the node's own committed state.
public struct NodeCredentials: Sendable {
    /// The audience presentations name when a request gives none.
    public let audience: String
    /// Issuers and status lists from committed state.
    public let sources: LedgerCredentialSources
    /// Outstanding presentation requests (5 minutes each).
    public let requests: PresentationRequestStore
    /// The verifier over ``sources``.
    public let verifier: PresentationVerifier

    /// The verifier of a node reading `queries`; `clock` gives Unix seconds (the wall clock by default).
    public init(
        queries: LedgerQueries, audience: String, clock: @escaping @Sendable () -> Int64 = NodeCredentials.wallClock,
        logger: Logger = Logger(label: "ensure.credentials")
    ) {
        self.audience = audience
        sources = LedgerCredentialSources(queries: queries, clock: clock, logger: logger)
        requests = PresentationRequestStore(lifetime: 300, clock: clock)
        verifier = PresentationVerifier(registry: sources, statusLists: sources)
    }

    /// Unix seconds now.
    @Sendable public static func wallClock() -> Int64 { Int64(Date().timeIntervalSince1970) }

    /// A fresh request for "over `threshold`" addressed to `audience` (``audience`` when nil).
    public func createRequest(audience: String?, over threshold: Int) async -> PresentationRequest {
        await requests.create(audience: audience ?? self.audience, threshold: threshold)
    }

    /// Consumes `nonce`'s request, then verifies `presentation` against it at the store's time: the KB-JWT must
    /// name the same nonce and the request's audience.
    public func verify(nonce: String, presentation: String) async throws(PresentationRefusal) -> AgeVerification {
        let request = try await requests.consume(nonce: nonce)
        return try verifier.verify(presentation, request: request, now: await requests.now())
    }
}

extension NodeEngine {
    public nonisolated func createPresentationRequest(audience: String?, over threshold: Int) async
        -> PresentationRequest
    {
        await credentials.createRequest(audience: audience, over: threshold)
    }

    public nonisolated func verifyPresentation(nonce: String, presentation: String) async throws(PresentationRefusal)
        -> AgeVerification
    {
        try await credentials.verify(nonce: nonce, presentation: presentation)
    }

    public nonisolated func statusList(uri: String) async throws(LedgerQueryError) -> CommittedRead<StatusListEntry?> {
        try credentials.sources.statusListEntry(uri: uri)
    }
}
