public import Ledger

/// The limits of a ``Mempool``. Every limit is inclusive: a pool at exactly a limit holds, one more is refused.
public struct MempoolConfiguration: Sendable, Equatable {
    /// The chain whose transactions the pool admits.
    public let chainID: String
    /// Most pending transactions in the pool (default 20,000: two full blocks of ``LedgerLimits/blockTransactions``).
    public let maxTransactions: Int
    /// Most canonical bytes of all pending transactions together (default 64 MiB).
    public let maxBytes: Int
    /// Largest canonical encoding of one transaction (default ``LedgerLimits/transactionBytes``).
    public let maxTransactionBytes: Int
    /// Most pending transactions of one signer (default 128).
    public let maxPerSigner: Int
    /// How far ahead of the signer's next expected sequence a transaction may be: sequence `s` is admitted
    /// while `s < next + sequenceWindow` (default 128; 1 admits only the next one).
    public let sequenceWindow: UInt64
    /// How long a transaction that cannot be proposed (its predecessor is missing) may wait before it expires
    /// (default 60 seconds). Proposable transactions never expire: they leave when committed or made stale.
    public let maxGapAge: Duration
    /// How many verified transaction ids the signature cache remembers (default 40,000), oldest forgotten first.
    public let verifiedCacheCapacity: Int

    /// Checks and stores the limits; throws naming the first field out of range.
    public init(
        chainID: String,
        maxTransactions: Int = 20_000,
        maxBytes: Int = 64 * 1024 * 1024,
        maxTransactionBytes: Int = LedgerLimits.transactionBytes,
        maxPerSigner: Int = 128,
        sequenceWindow: UInt64 = 128,
        maxGapAge: Duration = .seconds(60),
        verifiedCacheCapacity: Int = 40_000
    ) throws(MempoolConfigurationError) {
        guard ChainID.isValid(chainID) else {
            throw MempoolConfigurationError(field: "chainID", reason: "must be 1-64 characters of [a-z0-9._-]")
        }
        guard maxTransactions >= 1 else {
            throw MempoolConfigurationError(field: "maxTransactions", reason: "must be at least 1")
        }
        guard maxTransactionBytes >= 1 && maxTransactionBytes <= LedgerLimits.transactionBytes else {
            throw MempoolConfigurationError(
                field: "maxTransactionBytes", reason: "must be 1...\(LedgerLimits.transactionBytes)")
        }
        guard maxBytes >= maxTransactionBytes else {
            throw MempoolConfigurationError(field: "maxBytes", reason: "must be at least maxTransactionBytes")
        }
        guard maxPerSigner >= 1 else {
            throw MempoolConfigurationError(field: "maxPerSigner", reason: "must be at least 1")
        }
        guard sequenceWindow >= 1 else {
            throw MempoolConfigurationError(field: "sequenceWindow", reason: "must be at least 1")
        }
        guard maxGapAge > .zero else {
            throw MempoolConfigurationError(field: "maxGapAge", reason: "must be positive")
        }
        guard verifiedCacheCapacity >= 0 else {
            throw MempoolConfigurationError(field: "verifiedCacheCapacity", reason: "must not be negative")
        }
        self.chainID = chainID
        self.maxTransactions = maxTransactions
        self.maxBytes = maxBytes
        self.maxTransactionBytes = maxTransactionBytes
        self.maxPerSigner = maxPerSigner
        self.sequenceWindow = sequenceWindow
        self.maxGapAge = maxGapAge
        self.verifiedCacheCapacity = verifiedCacheCapacity
    }
}

/// A ``MempoolConfiguration`` field out of range.
public struct MempoolConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The field's name, as in ``MempoolConfiguration``.
    public let field: String
    /// What the field must be.
    public let reason: String

    /// An error for `field`.
    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "mempool configuration: \(field) \(reason)" }
}
