import EnsureCrypto
import Foundation
import Ledger
import Testing

/// The public RFC 6962 / RFC 9162 proof vectors of transparency-dev/merkle (`testdata/`), read from the
/// shared test-vector folder beside the repository. Every happy path must verify and every tampered case must
/// be rejected, with one deliberate exception named below.
@Suite struct MerkleVectorTests {
    /// The inclusion and consistency vector files the folder holds; a missing or partly empty folder fails.
    static let inclusionFileCount = 98
    static let consistencyFileCount = 98

    /// This happy path gives 12-byte "roots" (the text "don't care 2") for two equal one-leaf trees.
    /// transparency-dev only compares such roots as bytes; this verifier takes hashes as 32-byte digests and
    /// rejects anything else as malformed, so this case is expected to fail with exactly that error.
    static let malformedRootHappyPath = "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"

    /// One inclusion case: `leafIdx` is 0-based, hashes are standard base64.
    struct InclusionVector: Decodable {
        let leafIdx: UInt64
        let treeSize: UInt64
        let root: String
        let leafHash: String
        let proof: [String]?
        let desc: String
        let wantErr: Bool
    }

    /// One consistency case.
    struct ConsistencyVector: Decodable {
        let size1: UInt64
        let size2: UInt64
        let root1: String
        let root2: String
        let proof: [String]?
        let desc: String
        let wantErr: Bool
    }

    /// `../shared/testvectors/merkle` relative to the repository root, found from this file's path.
    static var vectorFolder: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // LedgerTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // repository root
            .deletingLastPathComponent()
            .appendingPathComponent("shared/testvectors/merkle")
    }

    /// The JSON files under `kind`, as paths relative to the vector folder, sorted.
    static func vectorFiles(_ kind: String) throws -> [String] {
        let folder = vectorFolder.appendingPathComponent(kind)
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue else {
            Issue.record("The Merkle test vectors are missing: no folder at \(folder.path)")
            return []
        }
        return try FileManager.default.subpathsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }.map {
            "\(kind)/\($0)"
        }.sorted()
    }

    static func load<Vector: Decodable>(_ file: String, as type: Vector.Type) throws -> Vector {
        let data = try Data(contentsOf: vectorFolder.appendingPathComponent(file))
        return try JSONDecoder().decode(Vector.self, from: data)
    }

    static func bytes(_ base64: String, _ file: String) throws -> [UInt8] {
        try [UInt8](#require(Data(base64Encoded: base64), "\(file): not base64: \(base64)"))
    }

    @Test func inclusionVectors() throws {
        let files = try Self.vectorFiles("inclusion")
        #expect(files.count == Self.inclusionFileCount)
        var happy = 0
        var tampered = 0
        for file in files {
            let vector = try Self.load(file, as: InclusionVector.self)
            let leafHash = try Self.bytes(vector.leafHash, file)
            let proof = try (vector.proof ?? []).map { try Self.bytes($0, file) }
            let root = try Self.bytes(vector.root, file)
            let outcome = Result { () throws(MerkleProofError) in
                try MerkleProof.verifyInclusion(
                    leafHash: leafHash, index: vector.leafIdx, treeSize: vector.treeSize, proof: proof, root: root)
            }
            if vector.wantErr {
                tampered += 1
                #expect(throws: MerkleProofError.self, "\(file) (\(vector.desc)) must be rejected") {
                    try outcome.get()
                }
            } else {
                happy += 1
                #expect(throws: Never.self, "\(file) (\(vector.desc)) must verify") { try outcome.get() }
            }
        }
        #expect(happy == 6)
        #expect(tampered == 92)
    }

    @Test func consistencyVectors() throws {
        let files = try Self.vectorFiles("consistency")
        #expect(files.count == Self.consistencyFileCount)
        #expect(files.contains(Self.malformedRootHappyPath))
        var happy = 0
        var tampered = 0
        for file in files {
            let vector = try Self.load(file, as: ConsistencyVector.self)
            let oldRoot = try Self.bytes(vector.root1, file)
            let newRoot = try Self.bytes(vector.root2, file)
            let proof = try (vector.proof ?? []).map { try Self.bytes($0, file) }
            let outcome = Result { () throws(MerkleProofError) in
                try MerkleProof.verifyConsistency(
                    oldSize: vector.size1, newSize: vector.size2, oldRoot: oldRoot, newRoot: newRoot, proof: proof)
            }
            if file == Self.malformedRootHappyPath {
                #expect(!vector.wantErr)
                #expect(throws: MerkleProofError.malformedHash(field: .oldRoot, byteCount: 12)) { try outcome.get() }
            } else if vector.wantErr {
                tampered += 1
                #expect(throws: MerkleProofError.self, "\(file) (\(vector.desc)) must be rejected") {
                    try outcome.get()
                }
            } else {
                happy += 1
                #expect(throws: Never.self, "\(file) (\(vector.desc)) must verify") { try outcome.get() }
            }
        }
        #expect(happy == 5)
        #expect(tampered == 92)
    }

    /// The vectors' trees are the eight leaves of the RFC 6962 reference tests; a log built from them must
    /// produce the very proofs and roots the happy paths carry.
    @Test func generatedProofsEqualTheHappyPaths() throws {
        let leafData = [
            "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f",
        ]
        let leaves = try leafData.map { MerkleHash.leaf(try #require(Hex.decode($0))) }
        let log = try MerkleTestLog(leaves: leaves, batchSize: 3).log
        func digest(_ base64: String) throws -> Digest {
            try #require(Digest(bytes: try Self.bytes(base64, "happy path")))
        }

        var inclusionChecked = 0
        for file in try Self.vectorFiles("inclusion") where file.hasSuffix("/happy-path.json") {
            let vector = try Self.load(file, as: InclusionVector.self)
            #expect(try log.root(atSize: vector.treeSize) == digest(vector.root), "\(file)")
            #expect(leaves[Int(vector.leafIdx)] == (try digest(vector.leafHash)), "\(file)")
            let proof = try log.inclusionProof(leafIndex: vector.leafIdx, treeSize: vector.treeSize)
            #expect(proof == (try (vector.proof ?? []).map(digest)), "\(file)")
            inclusionChecked += 1
        }
        #expect(inclusionChecked == 5)

        var consistencyChecked = 0
        for file in try Self.vectorFiles("consistency") where file.hasSuffix("/happy-path.json") {
            let vector = try Self.load(file, as: ConsistencyVector.self)
            #expect(try log.root(atSize: vector.size1) == digest(vector.root1), "\(file)")
            #expect(try log.root(atSize: vector.size2) == digest(vector.root2), "\(file)")
            let proof = try log.consistencyProof(oldSize: vector.size1, newSize: vector.size2)
            #expect(proof == (try (vector.proof ?? []).map(digest)), "\(file)")
            consistencyChecked += 1
        }
        #expect(consistencyChecked == 5)
    }
}

@Suite("Merkle leaf of a digest")
struct MerkleDigestLeafTests {
    @Test("a digest's leaf hash is the leaf hash of its 32 bytes")
    func digestLeafEqualsBytesLeaf() {
        let digest = SHA256.hash(Array("leaf".utf8))
        #expect(MerkleHash.leaf(digest) == MerkleHash.leaf(digest.bytes))
        #expect(MerkleHash.leaf(digest) != MerkleHash.leaf(SHA256.hash(Array("other".utf8))))
    }
}
