// swift-tools-version:6.1
import PackageDescription

// Ensure: a permissioned ledger network for security incidents and age-credential trust.
// Every folder below Node/, Consensus/ and Tools/ is one target; see docs/architecture.md.

let package = Package(
    name: "Ensure",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "ensure", targets: ["ensure"]),
        .executable(name: "ensure-bench", targets: ["ensure-bench"]),
        .executable(name: "ensure-node", targets: ["ensure-node"]),
        .library(name: "Ledger", targets: ["Ledger"]),
        .library(name: "Consensus", targets: ["Consensus"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.5.0"),
        // P-256 (ES256) for SD-JWT VC credentials; already in the graph through Hummingbird.
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0"..<"5.0.0"),
    ],
    targets: [
        // System libraries: thin module maps, used only by Crypto, Storage, Credentials and (the thread clock) Daemon.
        .systemLibrary(
            name: "CSodium",
            path: "Node/System/CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .systemLibrary(
            name: "CLevelDB",
            path: "Node/System/CLevelDB",
            providers: [.apt(["libleveldb-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            path: "Node/System/COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            path: "Node/System/CZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // Header only: the calling thread's CPU clock.
        .systemLibrary(name: "CThreadClock", path: "Node/System/CThreadClock"),

        // Libraries.
        .target(name: "Codec", path: "Node/Codec"),
        .target(name: "EnsureCrypto", dependencies: ["CSodium", "COpenSSL"], path: "Node/Crypto"),
        .target(name: "Ledger", dependencies: ["Codec", "EnsureCrypto"], path: "Node/Ledger"),
        .target(
            name: "Credentials",
            dependencies: ["CZlib", "EnsureCrypto", .product(name: "Crypto", package: "swift-crypto")],
            path: "Node/Credentials"
        ),
        .target(
            name: "Storage", dependencies: ["CLevelDB", "Codec", "Consensus", "EnsureCrypto", "Ledger"],
            path: "Node/Storage"),
        .target(name: "NodeConfig", dependencies: ["Codec", "EnsureCrypto", "Ledger"], path: "Node/Config"),
        .target(name: "Consensus", dependencies: ["Codec", "EnsureCrypto", "Ledger"], path: "Consensus/Core"),
        .target(name: "Mempool", dependencies: ["Codec", "EnsureCrypto", "Ledger"], path: "Node/Mempool"),
        .target(
            name: "PeerNetwork",
            dependencies: [
                "Codec", "EnsureCrypto",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Node/Network"
        ),
        .target(
            name: "API",
            dependencies: [
                "Codec", "Credentials", "EnsureCrypto", "Ledger",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Node/API"
        ),
        .target(
            name: "Daemon",
            dependencies: [
                "API", "CThreadClock", "Codec", "Consensus", "Credentials", "EnsureCrypto", "Ledger", "Mempool",
                "PeerNetwork", "NodeConfig", "Storage",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Node/Daemon"
        ),
        .target(
            name: "ConsensusSimulation",
            dependencies: ["Consensus", "EnsureCrypto", "Ledger"],
            path: "Consensus/Simulation"
        ),

        // Executables.
        .executableTarget(
            name: "ensure",
            dependencies: [
                "Codec", "Credentials", "EnsureCrypto", "Ledger", "NodeConfig", "Storage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Tools/CLI"
        ),
        .executableTarget(
            name: "ensure-bench",
            dependencies: [
                "API", "Codec", "EnsureCrypto", "Daemon", "Ledger", "Storage", "Consensus", "ConsensusSimulation",
                "Mempool", "NodeConfig", "Credentials", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tools/Bench"
        ),
        .executableTarget(
            name: "ensure-node",
            dependencies: [
                "Daemon",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Node/NodeMain"
        ),
        .executableTarget(
            name: "ensure-crash-writer",
            dependencies: ["Storage", "Ledger", "EnsureCrypto"],
            path: "Tests/Support/CrashWriter"
        ),

        // Tests.
        .testTarget(name: "CryptoTests", dependencies: ["EnsureCrypto"], path: "Tests/CryptoTests"),
        .testTarget(
            name: "LedgerTests", dependencies: ["Codec", "ConsensusSimulation", "EnsureCrypto", "Ledger"],
            path: "Tests/LedgerTests"),
        .testTarget(
            name: "StorageTests",
            dependencies: ["Storage", "Consensus", "Ledger", "EnsureCrypto", "Codec", "ensure-crash-writer"],
            path: "Tests/StorageTests"
        ),
        .testTarget(
            name: "ConsensusTests",
            dependencies: ["Consensus", "ConsensusSimulation", "Ledger", "EnsureCrypto", "Codec"],
            path: "Tests/ConsensusTests"
        ),
        .testTarget(
            name: "NetworkTests",
            dependencies: [
                "PeerNetwork", "EnsureCrypto", "Codec",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/NetworkTests"
        ),
        .testTarget(
            name: "MempoolTests", dependencies: ["Mempool", "Ledger", "EnsureCrypto", "Codec", "ConsensusSimulation"],
            path: "Tests/MempoolTests"),
        .testTarget(
            name: "NodeConfigTests", dependencies: ["NodeConfig", "Ledger", "EnsureCrypto", "Codec"],
            path: "Tests/NodeConfigTests"),
        .testTarget(
            name: "APITests",
            dependencies: [
                "API", "Codec", "Credentials", "EnsureCrypto", "Ledger",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            path: "Tests/APITests"
        ),
        .testTarget(
            name: "DaemonTests",
            dependencies: [
                "Daemon", "API", "Codec", "Consensus", "ConsensusSimulation", "Credentials", "EnsureCrypto", "Ledger",
                "Mempool", "NodeConfig", "Storage", .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Tests/DaemonTests"
        ),
        .testTarget(
            name: "ProcessTests",
            dependencies: ["ensure", "ensure-bench", "ensure-node", "EnsureCrypto", "Ledger", "Codec"],
            path: "Tests/ProcessTests"
        ),
        .testTarget(
            name: "CredentialsTests",
            dependencies: ["Credentials", "EnsureCrypto", "ensure", .product(name: "Crypto", package: "swift-crypto")],
            path: "Tests/CredentialsTests",
            exclude: ["Interop"]
        ),
        .testTarget(
            name: "CLITests", dependencies: ["ensure", "Codec", "Credentials", "EnsureCrypto", "Ledger", "NodeConfig"],
            path: "Tests/CLITests"),
    ],
    swiftLanguageModes: [.v6]
)

// Strict settings for every target we own, in one place.
for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(contentsOf: [
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
        .enableUpcomingFeature("InternalImportsByDefault"),
    ])
    target.swiftSettings = settings
}
