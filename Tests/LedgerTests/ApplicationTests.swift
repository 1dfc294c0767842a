import Codec
import EnsureCrypto
import Ledger
import Testing

/// A ledger application on in-memory state: organizations `org-0`… with deterministic admin keys, one block per
/// call, every signer's sequence tracked.
struct ApplicationHarness {
    let chainID = "app-test"
    let admins: [Ed25519PrivateKey]
    let genesis: Genesis
    var state = InMemoryLedgerState()
    var height: UInt64 = 0
    var stateRoot = Digest.zero
    var logSize: UInt64 = 0
    var logRoot = MerkleHash.emptyRoot
    private var sequences: [Ed25519PublicKey: UInt64] = [:]

    init(organizations: Int = 4, parameters: GenesisParameters = GenesisParameters()) {
        admins = (0..<organizations).map { Ed25519PrivateKey(seed: [UInt8](repeating: UInt8(10 + $0), count: 32))! }
        genesis = Genesis(
            chainID: chainID, genesisTime: 1_700_000_000_000,
            organizations: admins.enumerated().map {
                GenesisOrganization(name: "org-\($0.offset)", adminKey: $0.element.publicKey)
            },
            validators: [
                GenesisValidator(
                    organization: "org-0",
                    nodeKey: Ed25519PrivateKey(seed: [UInt8](repeating: 99, count: 32))!.publicKey)
            ],
            parameters: parameters)
        state.apply(LedgerApplication.genesisChanges(genesis))
    }

    static func key(_ n: UInt8) -> Ed25519PrivateKey { Ed25519PrivateKey(seed: [UInt8](repeating: n, count: 32))! }

    /// A transaction of `kind` with `payload`, signed by `key` with its next sequence.
    mutating func tx(_ key: Ed25519PrivateKey, _ kind: TransactionKind, _ payload: some CanonicalEncodable)
        -> Transaction
    {
        let sequence = sequences[key.publicKey, default: 1]
        sequences[key.publicKey] = sequence + 1
        return Transaction(
            chainID: chainID, sequence: sequence, kind: kind, payload: payload.canonicalBytes, signedBy: key)
    }

    /// Executes one block and applies it; returns the receipts' failures (nil for success).
    @discardableResult
    mutating func block(_ transactions: [Transaction], timestamp: UInt64 = 1_700_000_100_000) throws
        -> [TransactionFailure?]
    {
        let result = try LedgerApplication.executeBlock(
            transactions, chainID: chainID, height: height + 1, timestamp: timestamp, parentStateRoot: stateRoot,
            on: state
        ) { tx, _ in tx.hasValidSignature }
        state.apply(result.changes)
        height += 1
        stateRoot = result.stateRoot
        logSize = result.incidentLogSize
        logRoot = result.incidentLogRoot
        return result.receipts.map(\.failure)
    }

    /// Runs one transaction in its own block and returns its failure code (nil when it applied).
    mutating func run(_ key: Ed25519PrivateKey, _ kind: TransactionKind, _ payload: some CanonicalEncodable) throws
        -> String?
    {
        let transaction = tx(key, kind, payload)
        return try block([transaction])[0]?.code
    }

    /// Proposes `action` as admin `admin`; returns the proposal id.
    mutating func propose(_ action: GovernanceAction, by admin: Int = 0) throws -> Digest {
        let transaction = tx(admins[admin], .governancePropose, ProposePayload(action: action, rationale: "test"))
        let failures = try block([transaction])
        #expect(failures == [nil])
        return transaction.id
    }

    func proposal(_ id: Digest) throws -> ProposalRecord? {
        try LedgerApplication.decode(ProposalRecord.self, at: StateKeys.proposal(id), in: state)
    }

    func organization(_ name: String) throws -> OrganizationRecord? {
        try LedgerApplication.decode(OrganizationRecord.self, at: StateKeys.organization(name), in: state)
    }

    func incident(_ organization: String, _ id: String) throws -> IncidentState? {
        try LedgerApplication.decode(
            IncidentState.self, at: StateKeys.incident(organization: organization, id: id), in: state)
    }

    /// Adds a plugin of `organization` through a proposal every member approves.
    mutating func addPlugin(_ key: Ed25519PrivateKey, organization: String = "org-0") throws {
        try pass(.addPlugin(PluginRecord(key: key.publicKey, organization: organization, name: "fim@web-1")))
    }

    /// Proposes `action` and has every other member approve it.
    mutating func pass(_ action: GovernanceAction) throws {
        let id = try propose(action)
        for admin in admins.indices.dropFirst() where try proposal(id)?.storedStatus == .open {
            #expect(try run(admins[admin], .governanceVote, VotePayload(proposal: id, approve: true)) == nil)
        }
        #expect(try proposal(id)?.storedStatus == .passed)
    }

    static func record(
        id: String, category: String = "intrusion-attempts/brute-force", detectedAt: UInt64 = 1_700_000_000_000,
        severity: IncidentSeverity = .high, sealedTo: [X25519PublicKey] = [], links: [String] = []
    ) -> IncidentRecord {
        IncidentRecord(
            id: id, detectedAt: detectedAt, category: category, severity: severity, asset: "shop-web-1",
            detector: "fail2ban", summary: "42 failed logins from one address",
            evidenceDigest: SHA256.hash(Array("log \(id)".utf8)),
            sealedDetails: sealedTo.map { SealedDetail(recipient: $0.bytes, ciphertext: [1, 2, 3]) }, links: links)
    }
}

@Suite("Ledger application: governance")
struct GovernanceTests {
    @Test("genesis state holds the members, their admin roles, the validators and the parameters")
    func genesisState() throws {
        let app = ApplicationHarness()
        #expect(try app.organization("org-2")?.adminKey == app.admins[2].publicKey)
        #expect(
            try LedgerApplication.role(of: app.admins[1].publicKey, in: app.state)
                == .organizationAdmin(organization: "org-1"))
        #expect(try LedgerApplication.parameters(in: app.state) == GenesisParameters())
        #expect(try LedgerApplication.role(of: ApplicationHarness.key(1).publicKey, in: app.state) == nil)
    }

    @Test("a proposal passes with more than two thirds of the members, and not before")
    func passesAboveTwoThirds() throws {
        var app = ApplicationHarness(organizations: 4)
        let newcomer = ApplicationHarness.key(1)
        let id = try app.propose(.addOrganization(name: "bank-a", adminKey: newcomer.publicKey, incidentKey: nil))
        #expect(try app.run(app.admins[1], .governanceVote, VotePayload(proposal: id, approve: true)) == nil)
        // Two of four is one half: not yet.
        #expect(try app.proposal(id)?.storedStatus == .open)
        #expect(try app.organization("bank-a") == nil)
        #expect(try app.run(app.admins[2], .governanceVote, VotePayload(proposal: id, approve: true)) == nil)
        #expect(try app.proposal(id)?.storedStatus == .passed)
        #expect(try app.proposal(id)?.decidedHeight == app.height)
        #expect(try app.organization("bank-a")?.adminKey == newcomer.publicKey)
        // The newcomer acts as a member at once, and the member count grew: 5 members now need 4 votes.
        let next = try app.propose(.removeOrganization(name: "org-3"), by: 0)
        for admin in 1...2 {
            #expect(try app.run(app.admins[admin], .governanceVote, VotePayload(proposal: next, approve: true)) == nil)
        }
        #expect(try app.proposal(next)?.storedStatus == .open)
        #expect(try app.run(newcomer, .governanceVote, VotePayload(proposal: next, approve: true)) == nil)
        #expect(try app.proposal(next)?.storedStatus == .passed)
        #expect(try app.organization("org-3") == nil)
    }

    @Test("a single-member consortium decides alone")
    func singleMember() throws {
        var app = ApplicationHarness(organizations: 1)
        let id = try app.propose(
            .addRegulator(RegulatorRecord(key: ApplicationHarness.key(2).publicKey, name: "dpa", incidentKey: nil)))
        #expect(try app.proposal(id)?.storedStatus == .passed)
        #expect(try LedgerApplication.role(of: ApplicationHarness.key(2).publicKey, in: app.state) == .regulator)
    }

    @Test("only member admin keys may propose and vote")
    func whoMayPropose() throws {
        var app = ApplicationHarness()
        let plugin = ApplicationHarness.key(3)
        try app.addPlugin(plugin)
        let outsider = ApplicationHarness.key(4)
        let action = GovernanceAction.removePlugin(key: plugin.publicKey)
        #expect(try app.run(plugin, .governancePropose, ProposePayload(action: action)) == "unauthorized")
        #expect(try app.run(outsider, .governancePropose, ProposePayload(action: action)) == "unauthorized")
        let id = try app.propose(action)
        #expect(try app.run(plugin, .governanceVote, VotePayload(proposal: id, approve: true)) == "unauthorized")
        #expect(try app.run(outsider, .governanceVote, VotePayload(proposal: id, approve: true)) == "unauthorized")
        #expect(try app.proposal(id)?.votes.count == 1)
    }

    @Test("a member votes once; the proposer's proposal is its vote")
    func doubleVotes() throws {
        var app = ApplicationHarness()
        let id = try app.propose(.removeOrganization(name: "org-3"))
        #expect(
            try app.run(app.admins[0], .governanceVote, VotePayload(proposal: id, approve: true)) == "already-voted")
        #expect(try app.run(app.admins[1], .governanceVote, VotePayload(proposal: id, approve: false)) == nil)
        #expect(
            try app.run(app.admins[1], .governanceVote, VotePayload(proposal: id, approve: true)) == "already-voted")
        #expect(try app.proposal(id)?.votes.map(\.organization) == ["org-0", "org-1"])
    }

    @Test("votes after the expiry height are refused, and the proposal reads as expired")
    func expiry() throws {
        var app = ApplicationHarness(parameters: GenesisParameters(proposalExpiryBlocks: 2))
        let id = try app.propose(.removeOrganization(name: "org-3"))
        let created = app.height
        #expect(try app.run(app.admins[1], .governanceVote, VotePayload(proposal: id, approve: true)) == nil)
        #expect(app.height == created + 1)
        try app.block([])
        #expect(app.height == created + 2)
        #expect(try app.run(app.admins[2], .governanceVote, VotePayload(proposal: id, approve: true)) == "expired")
        #expect(try app.proposal(id)?.status(at: app.height) == .expired)
        #expect(try app.organization("org-3") != nil)
    }

    @Test("enough votes against reject a proposal; decided proposals take no more votes; unknown ones none")
    func rejection() throws {
        var app = ApplicationHarness()
        let id = try app.propose(.removeOrganization(name: "org-3"))
        #expect(try app.run(app.admins[1], .governanceVote, VotePayload(proposal: id, approve: false)) == nil)
        #expect(try app.proposal(id)?.storedStatus == .open)
        #expect(try app.run(app.admins[2], .governanceVote, VotePayload(proposal: id, approve: false)) == nil)
        #expect(try app.proposal(id)?.storedStatus == .rejected)
        #expect(try app.run(app.admins[3], .governanceVote, VotePayload(proposal: id, approve: true)) == "decided")
        #expect(
            try app.run(app.admins[3], .governanceVote, VotePayload(proposal: SHA256.hash([9]), approve: true))
                == "not-found")
    }

    @Test("an action that no longer applies when it passes fails the proposal, not the vote")
    func staleAction() throws {
        var app = ApplicationHarness(organizations: 1)
        let key = ApplicationHarness.key(5)
        let first = try app.propose(.addOrganization(name: "bank-a", adminKey: key.publicKey, incidentKey: nil))
        #expect(try app.proposal(first)?.storedStatus == .passed)
        // The same action again is refused at once: the organization exists.
        let again = app.tx(
            app.admins[0], .governancePropose,
            ProposePayload(
                action: .addOrganization(
                    name: "bank-a", adminKey: ApplicationHarness.key(6).publicKey, incidentKey: nil)))
        #expect(try app.block([again])[0]?.code == "invalid-action")

        var four = ApplicationHarness()
        let a = try four.propose(
            .addOrganization(name: "bank-b", adminKey: ApplicationHarness.key(7).publicKey, incidentKey: nil))
        let b = try four.propose(
            .addOrganization(name: "bank-b", adminKey: ApplicationHarness.key(8).publicKey, incidentKey: nil), by: 1)
        for admin in 1...2 {
            #expect(try four.run(four.admins[admin], .governanceVote, VotePayload(proposal: a, approve: true)) == nil)
        }
        #expect(try four.proposal(a)?.storedStatus == .passed)
        // Five members now: the proposer and three more approve.
        for admin in [0, 2, 3] {
            #expect(try four.run(four.admins[admin], .governanceVote, VotePayload(proposal: b, approve: true)) == nil)
        }
        guard case .failed(let reason) = try four.proposal(b)?.storedStatus else {
            Issue.record("the second proposal should have failed")
            return
        }
        #expect(reason == "invalid-action")
        let note = try four.state.value(forKey: StateKeys.proposalNote(b))
        #expect(note.map { String(decoding: $0, as: UTF8.self) }?.contains("bank-b") == true)
        #expect(try four.organization("bank-b")?.adminKey == ApplicationHarness.key(7).publicKey)
    }

    @Test("actions are checked when proposed: last member, last validator, members running validators, bad parameters")
    func invalidActions() throws {
        var single = ApplicationHarness(organizations: 1)
        #expect(
            try single.run(
                single.admins[0], .governancePropose, ProposePayload(action: .removeOrganization(name: "org-0")))
                == "invalid-action")
        var app = ApplicationHarness()
        let validatorKey = ApplicationHarness.key(99).publicKey
        #expect(
            try app.run(
                app.admins[0], .governancePropose, ProposePayload(action: .removeValidator(nodeKey: validatorKey)))
                == "invalid-action")
        #expect(
            try app.run(app.admins[0], .governancePropose, ProposePayload(action: .removeOrganization(name: "org-0")))
                == "invalid-action")
        #expect(
            try app.run(
                app.admins[0], .governancePropose,
                ProposePayload(action: .setParameters(GenesisParameters(maxBlockTransactions: 0)))) == "invalid-action")
        #expect(
            try app.run(
                app.admins[0], .governancePropose,
                ProposePayload(
                    action: .addPlugin(PluginRecord(key: app.admins[1].publicKey, organization: "org-0", name: "x"))))
                == "invalid-action")
        #expect(
            try app.run(
                app.admins[0], .governancePropose, ProposePayload(action: .delistIssuer(identifier: "https://nobody")))
                == "invalid-action")
        // And the valid ones pass, both ways of each check.
        try app.pass(
            .addValidator(ValidatorRecord(nodeKey: ApplicationHarness.key(50).publicKey, organization: "org-1")))
        try app.pass(.removeValidator(nodeKey: validatorKey))
        try app.pass(.setParameters(GenesisParameters(proposalExpiryBlocks: 7)))
        #expect(try LedgerApplication.parameters(in: app.state).proposalExpiryBlocks == 7)
        try app.pass(.removeOrganization(name: "org-0"))
    }

    @Test("a removed organization's admin can no longer act, and its open votes stop counting")
    func removedMember() throws {
        var app = ApplicationHarness()
        let pending = try app.propose(
            .addRegulator(RegulatorRecord(key: ApplicationHarness.key(20).publicKey, name: "dpa", incidentKey: nil)),
            by: 3)
        try app.pass(.removeOrganization(name: "org-3"))
        #expect(
            try app.run(app.admins[3], .governancePropose, ProposePayload(action: .removeOrganization(name: "org-2")))
                == "unauthorized")
        // org-3 proposed (and so voted for) `pending`; with three members left, two more approvals are needed.
        #expect(try app.run(app.admins[0], .governanceVote, VotePayload(proposal: pending, approve: true)) == nil)
        #expect(try app.proposal(pending)?.storedStatus == .open)
        #expect(try app.run(app.admins[1], .governanceVote, VotePayload(proposal: pending, approve: true)) == nil)
        #expect(try app.proposal(pending)?.storedStatus == .open)
        #expect(try app.run(app.admins[2], .governanceVote, VotePayload(proposal: pending, approve: true)) == nil)
        #expect(try app.proposal(pending)?.storedStatus == .passed)
    }

    @Test("a signer allowed earlier in a block is asked again after a transaction of that block removed its member")
    func removalMidBlock() throws {
        var app = ApplicationHarness()
        let removal = try app.propose(.removeOrganization(name: "org-3"))
        #expect(try app.run(app.admins[1], .governanceVote, VotePayload(proposal: removal, approve: true)) == nil)
        let before = app.tx(app.admins[3], .notarize, try NotarizePayload(digest: SHA256.hash([1]), label: "before"))
        let again = app.tx(app.admins[3], .notarize, try NotarizePayload(digest: SHA256.hash([2]), label: "again"))
        let deciding = app.tx(app.admins[2], .governanceVote, VotePayload(proposal: removal, approve: true))
        let after = app.tx(app.admins[3], .notarize, try NotarizePayload(digest: SHA256.hash([3]), label: "after"))
        let failures = try app.block([before, again, deciding, after])
        #expect(failures.map { $0?.code } == [nil, nil, nil, "unauthorized"])
        #expect(try app.proposal(removal)?.storedStatus == .passed)
        #expect(try app.state.value(forKey: StateKeys.notarization(SHA256.hash([2]))) != nil)
        #expect(try app.state.value(forKey: StateKeys.notarization(SHA256.hash([3]))) == nil)
    }

    @Test("issuers are approved and delisted by governance; a delisted issuer keeps its record, marked")
    func issuers() throws {
        var app = ApplicationHarness(organizations: 1)
        let key = IssuerSigningKey(
            keyID: "k1", x: [UInt8](repeating: 1, count: 32), y: [UInt8](repeating: 2, count: 32), notBefore: 0,
            notAfter: 2_000_000_000_000)
        let issuer = IssuerRecord(
            identifier: "https://issuer.bank-a.example", organization: "org-0",
            ledgerKey: ApplicationHarness.key(30).publicKey, signingKeys: [key],
            credentialTypes: ["urn:ensure:age:1"], validFrom: 0, validUntil: 2_000_000_000_000)
        try app.pass(.addIssuer(issuer))
        #expect(
            try LedgerApplication.role(of: issuer.ledgerKey, in: app.state)
                == .issuer(identifier: issuer.identifier))
        try app.pass(.delistIssuer(identifier: issuer.identifier))
        let stored = try LedgerApplication.decode(
            IssuerRecord.self, at: StateKeys.issuer(issuer.identifier), in: app.state)
        #expect(stored?.delisted == true)
        #expect(try LedgerApplication.role(of: issuer.ledgerKey, in: app.state) == nil)
    }
}

@Suite("Ledger application: review fixes")
struct ApplicationReviewTests {
    @Test("a block time at the top of UInt64 does not trap an incident report")
    func saturatedClock() throws {
        var app = ApplicationHarness(organizations: 1)
        let report = app.tx(app.admins[0], .incidentReport, ApplicationHarness.record(id: "late"))
        #expect(try app.block([report], timestamp: UInt64.max - 1) == [nil])
    }

    @Test("parameters that would overflow or starve blocks are refused")
    func boundedParameters() throws {
        var app = ApplicationHarness(organizations: 1)
        for parameters in [
            GenesisParameters(proposalExpiryBlocks: .max), GenesisParameters(epochLengthBlocks: 2_000_000_000),
            GenesisParameters(maxBlockBytes: 65_536),
        ] {
            #expect(
                try app.run(app.admins[0], .governancePropose, ProposePayload(action: .setParameters(parameters)))
                    == "invalid-action")
        }
    }

    @Test("a former member's name is never given to a newcomer")
    func namesAreNotReused() throws {
        var app = ApplicationHarness()
        try app.pass(.removeOrganization(name: "org-3"))
        let action = GovernanceAction.addOrganization(
            name: "org-3", adminKey: ApplicationHarness.key(80).publicKey, incidentKey: nil)
        #expect(try app.run(app.admins[0], .governancePropose, ProposePayload(action: action)) == "invalid-action")
    }

    @Test("repeating one's vote re-counts after membership changed; otherwise it is a second vote")
    func recount() throws {
        var app = ApplicationHarness(organizations: 5)
        let pending = try app.propose(
            .addRegulator(RegulatorRecord(key: ApplicationHarness.key(81).publicKey, name: "dpa", incidentKey: nil)))
        for admin in 1...2 {
            #expect(
                try app.run(app.admins[admin], .governanceVote, VotePayload(proposal: pending, approve: true)) == nil)
        }
        // 3 of 5 is not more than two thirds.
        #expect(try app.proposal(pending)?.storedStatus == .open)
        #expect(
            try app.run(app.admins[0], .governanceVote, VotePayload(proposal: pending, approve: true))
                == "already-voted")
        try app.pass(.removeOrganization(name: "org-4"))
        // 3 of 4 is; repeating a vote makes the ledger count again.
        #expect(
            try app.run(app.admins[0], .governanceVote, VotePayload(proposal: pending, approve: false))
                == "already-voted")
        #expect(try app.run(app.admins[0], .governanceVote, VotePayload(proposal: pending, approve: true)) == nil)
        #expect(try app.proposal(pending)?.storedStatus == .passed)
    }

    @Test("a failure's sentence lies beside the state, outside the root; the state keeps the code")
    func reasonsOutsideTheRoot() throws {
        var app = ApplicationHarness(organizations: 1)
        let failing = app.tx(app.admins[0], .governanceVote, VotePayload(proposal: SHA256.hash([2]), approve: true))
        let failures = try app.block([failing])
        #expect(failures[0]?.code == "not-found")
        #expect(failures[0]?.reason.isEmpty == false)
        let stored = try LedgerApplication.decode(
            TransactionReceipt.self, at: StateKeys.receipt(failing.id), in: app.state)
        #expect(stored?.failure == TransactionFailure("not-found", ""))
        let note = try app.state.value(forKey: StateKeys.receiptNote(failing.id))
        #expect(note.map { String(decoding: $0, as: UTF8.self) } == failures[0]?.reason)
    }

    @Test("incident ids that differ in bytes stay distinct even when Unicode calls them equal")
    func unicodeIdentifiers() throws {
        var app = ApplicationHarness(organizations: 1)
        let composed = "caf\u{e9}"
        let decomposed = "cafe\u{301}"
        #expect(composed == decomposed)
        #expect(try app.run(app.admins[0], .incidentReport, ApplicationHarness.record(id: composed)) == nil)
        #expect(try app.run(app.admins[0], .incidentReport, ApplicationHarness.record(id: decomposed)) == nil)
        #expect(
            try app.run(
                app.admins[0], .incidentReport, ApplicationHarness.record(id: "x", links: [composed, decomposed]))
                == nil)
        #expect(try app.incident("org-0", "x")?.links.count == 2)
        // Adding a link the incident already has is no change.
        #expect(
            try app.run(
                app.admins[0], .incidentUpdate, IncidentUpdatePayload(incidentID: "x", status: .open, links: [composed])
            )
                == "invalid-transition")
    }
}

@Suite("Ledger application: status lists")
struct StatusListRuleTests {
    static let token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"

    @Test("a registered issuer publishes increasing versions of its own lists; nobody else can")
    func publish() throws {
        var app = ApplicationHarness(organizations: 1)
        let ledgerKey = ApplicationHarness.key(70)
        let signing = IssuerSigningKey(
            keyID: "k1", x: [UInt8](repeating: 1, count: 32), y: [UInt8](repeating: 2, count: 32), notBefore: 0,
            notAfter: 2_000_000_000_000)
        let identifier = "https://issuer.bank-a.example"
        try app.pass(
            .addIssuer(
                IssuerRecord(
                    identifier: identifier, organization: "org-0", ledgerKey: ledgerKey.publicKey,
                    signingKeys: [signing],
                    credentialTypes: ["urn:ensure:age:1"], validFrom: 0, validUntil: 2_000_000_000_000)))
        let uri = identifier + "/status/1"
        #expect(
            try app.run(ledgerKey, .statusListPublish, StatusListPayload(uri: uri, listVersion: 1, token: Self.token))
                == nil)
        let stored = try LedgerApplication.decode(StatusListEntry.self, at: StateKeys.statusList(uri), in: app.state)
        #expect(stored?.listVersion == 1 && stored?.issuer == identifier && stored?.token == Self.token)
        #expect(
            try app.run(ledgerKey, .statusListPublish, StatusListPayload(uri: uri, listVersion: 1, token: Self.token))
                == "conflict")
        #expect(
            try app.run(ledgerKey, .statusListPublish, StatusListPayload(uri: uri, listVersion: 2, token: Self.token))
                == nil)
        #expect(
            try app.run(
                ledgerKey, .statusListPublish,
                StatusListPayload(uri: "https://other.example/status/1", listVersion: 1, token: Self.token))
                == "invalid-payload")
        #expect(
            try app.run(
                app.admins[0], .statusListPublish, StatusListPayload(uri: uri, listVersion: 3, token: Self.token))
                == "unauthorized")
        try app.pass(.delistIssuer(identifier: identifier))
        #expect(
            try app.run(ledgerKey, .statusListPublish, StatusListPayload(uri: uri, listVersion: 3, token: Self.token))
                == "unauthorized")
    }

    @Test("a token that is not a compact JWS is refused before it reaches a block")
    func malformedToken() throws {
        var app = ApplicationHarness(organizations: 1)
        let tx = app.tx(
            ApplicationHarness.key(71), .statusListPublish,
            StatusListPayload(uri: "https://x/1", listVersion: 1, token: "not a jws"))
        #expect(LedgerApplication.statelessFailure(of: tx)?.code == "invalid-payload")
    }
}

@Suite("Ledger application: incidents")
struct IncidentRuleTests {
    @Test("a plugin's report becomes a leaf of the incident log; the same record again is a no-op")
    func reportAndResubmit() throws {
        var app = ApplicationHarness(organizations: 1)
        let plugin = ApplicationHarness.key(40)
        try app.addPlugin(plugin)
        let report = app.tx(plugin, .incidentReport, ApplicationHarness.record(id: "inc-1"))
        #expect(try app.block([report]) == [nil])
        #expect(app.logSize == 1)
        let entry = IncidentLogEntry(
            height: app.height, timestamp: 1_700_000_100_000, organization: "org-0", transaction: report)
        #expect(app.logRoot == MerkleHash.root(leafHashes: [entry.leafHash]))
        let stored = try app.incident("org-0", "inc-1")
        #expect(stored?.status == .open)
        #expect(stored?.reporter == plugin.publicKey)
        #expect(try app.run(plugin, .incidentReport, ApplicationHarness.record(id: "inc-1")) == nil)
        #expect(app.logSize == 1)
        #expect(
            try app.run(plugin, .incidentReport, ApplicationHarness.record(id: "inc-1", severity: .low)) == "conflict")
        #expect(app.logSize == 1)
    }

    @Test("categories outside the RSIT taxonomy, unknown recipients and dangling links are refused")
    func recordRules() throws {
        var app = ApplicationHarness(organizations: 1)
        let bad = ApplicationHarness.record(id: "x", category: "intrusions/made-up")
        let badTx = app.tx(app.admins[0], .incidentReport, bad)
        #expect(LedgerApplication.statelessFailure(of: badTx)?.code == "invalid-category")
        #expect(try app.block([badTx])[0]?.code == "invalid-category")
        let stranger = X25519PrivateKey().publicKey
        #expect(
            try app.run(app.admins[0], .incidentReport, ApplicationHarness.record(id: "y", sealedTo: [stranger]))
                == "unknown-recipient")
        #expect(
            try app.run(app.admins[0], .incidentReport, ApplicationHarness.record(id: "z", links: ["nope"]))
                == "invalid-link")
        #expect(
            try app.run(
                app.admins[0], .incidentReport, ApplicationHarness.record(id: "w", detectedAt: 1_800_000_000_000))
                == "invalid-payload")
        #expect(app.logSize == 0)
        // The same rules, met: a registered regulator's key and an existing incident.
        let sealKey = X25519PrivateKey().publicKey
        try app.pass(
            .addRegulator(RegulatorRecord(key: ApplicationHarness.key(41).publicKey, name: "dpa", incidentKey: sealKey))
        )
        #expect(
            try app.run(app.admins[0], .incidentReport, ApplicationHarness.record(id: "a", sealedTo: [sealKey])) == nil)
        #expect(
            try app.run(app.admins[0], .incidentReport, ApplicationHarness.record(id: "b", links: ["a", "org-0:a"]))
                == nil)
        #expect(try app.incident("org-0", "b")?.links == [IncidentReference(organization: "org-0", id: "a")])
        #expect(app.logSize == 2)
    }

    @Test("only the owning organization's admin moves an incident, along the lifecycle")
    func lifecycle() throws {
        var app = ApplicationHarness(organizations: 2)
        let plugin = ApplicationHarness.key(42)
        try app.addPlugin(plugin)
        #expect(try app.run(plugin, .incidentReport, ApplicationHarness.record(id: "inc-1")) == nil)
        let ack = IncidentUpdatePayload(incidentID: "inc-1", status: .acknowledged, note: "on it")
        #expect(try app.run(plugin, .incidentUpdate, ack) == "unauthorized")
        #expect(try app.run(app.admins[1], .incidentUpdate, ack) == "not-found")
        #expect(try app.run(app.admins[0], .incidentUpdate, ack) == nil)
        #expect(try app.run(app.admins[0], .incidentUpdate, ack) == "invalid-transition")
        #expect(
            try app.run(app.admins[0], .incidentUpdate, IncidentUpdatePayload(incidentID: "inc-1", status: .resolved))
                == nil)
        #expect(
            try app.run(app.admins[0], .incidentUpdate, IncidentUpdatePayload(incidentID: "inc-1", status: .mitigating))
                == "invalid-transition")
        #expect(
            try app.run(app.admins[0], .incidentUpdate, IncidentUpdatePayload(incidentID: "inc-1", status: .open))
                == nil)
        let stored = try app.incident("org-0", "inc-1")
        #expect(stored?.status == .open)
        #expect(stored?.updateLeaves == [1, 2, 3])
        #expect(app.logSize == 4)
        // The status index holds the incident under its current status only.
        let suffix = StateKeys.IncidentIndex.suffix(detectedAt: 1_700_000_000_000, leaf: 0)
        #expect(try app.state.value(forKey: StateKeys.IncidentIndex.status(.open) + suffix) != nil)
        #expect(try app.state.value(forKey: StateKeys.IncidentIndex.status(.resolved) + suffix) == nil)
        #expect(try app.state.value(forKey: StateKeys.IncidentIndex.status(.acknowledged) + suffix) == nil)
    }

    @Test("a plugin of a removed organization can no longer report")
    func removedOrganizationPlugin() throws {
        var app = ApplicationHarness(organizations: 2)
        let plugin = ApplicationHarness.key(43)
        try app.addPlugin(plugin, organization: "org-1")
        #expect(try app.run(plugin, .incidentReport, ApplicationHarness.record(id: "a")) == nil)
        try app.pass(.removeOrganization(name: "org-1"))
        #expect(try app.run(plugin, .incidentReport, ApplicationHarness.record(id: "b")) == "unauthorized")
    }
}

@Suite("Ledger application: blocks")
struct ApplicationBlockTests {
    @Test("a changed validator set becomes the next epoch's at the first epoch boundary, and only then")
    func epochBoundary() throws {
        var app = ApplicationHarness(organizations: 1, parameters: GenesisParameters(epochLengthBlocks: 4))
        let joiner = ApplicationHarness.key(60).publicKey
        func next(at height: UInt64) throws -> ValidatorSet? {
            try LedgerApplication.executeBlock(
                [], chainID: app.chainID, height: height, timestamp: 1, parentStateRoot: .zero, on: app.state
            ) { _, _ in true }.nextValidators
        }
        // Unchanged set: no boundary ends an epoch.
        #expect(try next(at: 4) == nil)
        try app.pass(.addValidator(ValidatorRecord(nodeKey: joiner, organization: "org-0")))
        #expect(try LedgerApplication.activeValidators(in: app.state).epoch == 0)
        #expect(try next(at: 3) == nil)
        let set = try #require(try next(at: 8))
        #expect(set.contains(joiner) && set.count == 2)
        // Executing the boundary block activates it.
        while app.height % 4 != 3 { try app.block([]) }
        try app.block([])
        let active = try LedgerApplication.activeValidators(in: app.state)
        #expect(active.epoch == 1 && active.validators == set)
        #expect(try next(at: app.height + 4) == nil)
    }

    @Test("a failing transaction uses its sequence and writes its receipt, and nothing else")
    func failureWritesNothingElse() throws {
        var app = ApplicationHarness(organizations: 1)
        let failing = app.tx(app.admins[0], .governanceVote, VotePayload(proposal: SHA256.hash([1]), approve: true))
        let result = try LedgerApplication.executeBlock(
            [failing], chainID: app.chainID, height: 1, timestamp: 1, parentStateRoot: .zero, on: app.state
        ) { tx, _ in tx.hasValidSignature }
        #expect(result.receipts[0].failure?.code == "not-found")
        #expect(
            Set(result.changes.writes.keys.map(\.bytes)) == [
                StateKeys.sequence(app.admins[0].publicKey), StateKeys.receipt(failing.id),
            ])
    }

    @Test("the same block on the same state gives the same writes and roots; a different one does not")
    func determinism() throws {
        var app = ApplicationHarness(organizations: 1)
        let txs = [
            app.tx(app.admins[0], .incidentReport, ApplicationHarness.record(id: "a")),
            app.tx(app.admins[0], .notarize, try NotarizePayload(digest: SHA256.hash([7]), label: "orders")),
        ]
        func execute(_ transactions: [Transaction]) throws -> BlockExecution {
            try LedgerApplication.executeBlock(
                transactions, chainID: app.chainID, height: 1, timestamp: 1_700_000_100_000, parentStateRoot: .zero,
                on: app.state
            ) { tx, _ in tx.hasValidSignature }
        }
        let first = try execute(txs)
        let second = try execute(txs)
        #expect(first.changes == second.changes)
        #expect(first.stateRoot == second.stateRoot)
        #expect(first.incidentLogRoot == second.incidentLogRoot)
        let shorter = try execute([txs[0]])
        #expect(shorter.stateRoot != first.stateRoot)
    }

    @Test("wrong chain, sequence or signature makes the whole block invalid")
    func blockInvalid() throws {
        var app = ApplicationHarness(organizations: 1)
        let good = app.tx(app.admins[0], .notarize, try NotarizePayload(digest: SHA256.hash([1])))
        let wrongChain = Transaction(
            chainID: "other", sequence: 1, kind: .notarize, payload: good.payload, signedBy: app.admins[0])
        let skipped = Transaction(
            chainID: app.chainID, sequence: 3, kind: .notarize, payload: good.payload, signedBy: app.admins[0])
        let forged = Transaction(
            chainID: app.chainID, signer: good.signer, sequence: 1, kind: .notarize, payload: [1],
            signature: good.signature)
        for (tx, field) in [
            (wrongChain, "block.transactions[0].chainID"), (skipped, "block.transactions[0].sequence"),
            (forged, "block.transactions[0].signature"),
        ] {
            var refusedField: String?
            do {
                _ = try LedgerApplication.executeBlock(
                    [tx], chainID: app.chainID, height: 1, timestamp: 1, parentStateRoot: .zero, on: app.state
                ) { tx, _ in tx.hasValidSignature }
            } catch {
                if case .invalid(let actual, _) = error { refusedField = actual }
            }
            #expect(refusedField == field)
        }
        #expect(try app.block([good]) == [nil])
    }
}
