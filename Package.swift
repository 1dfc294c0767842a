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
        .library(name: "Ledger", targets: ["Ledger"]),
        .library(name: "Consensus", targets: ["Consensus"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // System libraries: thin module maps, used only by Crypto and Storage.
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

        // Libraries.
        .target(name: "Codec", path: "Node/Codec"),
        .target(name: "Crypto", dependencies: ["CSodium", "COpenSSL"], path: "Node/Crypto"),
        .target(name: "Ledger", dependencies: ["Codec", "Crypto"], path: "Node/Ledger"),
        .target(name: "Storage", dependencies: ["CLevelDB", "Codec", "Crypto", "Ledger"], path: "Node/Storage"),
        .target(name: "NodeConfig", dependencies: ["Codec", "Crypto", "Ledger"], path: "Node/Config"),
        .target(name: "Consensus", dependencies: ["Codec", "Crypto", "Ledger"], path: "Consensus/Core"),
        .target(name: "Mempool", dependencies: ["Codec", "Crypto", "Ledger"], path: "Node/Mempool"),
        .target(
            name: "Network",
            dependencies: [
                "Codec", "Crypto",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Node/Network"
        ),
        .target(
            name: "ConsensusSimulation",
            dependencies: ["Consensus", "Crypto", "Ledger"],
            path: "Consensus/Simulation"
        ),

        // Executables.
        .executableTarget(
            name: "ensure",
            dependencies: [
                "Codec", "Crypto", "Ledger", "NodeConfig", "Storage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tools/CLI"
        ),
        .executableTarget(
            name: "ensure-bench",
            dependencies: [
                "Codec", "Crypto", "Ledger", "Storage", "Consensus", "ConsensusSimulation", "Mempool",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tools/Bench"
        ),
        .executableTarget(
            name: "ensure-crash-writer",
            dependencies: ["Storage", "Ledger", "Crypto"],
            path: "Tests/Support/CrashWriter"
        ),

        // Tests.
        .testTarget(name: "CryptoTests", dependencies: ["Crypto"], path: "Tests/CryptoTests"),
        .testTarget(
            name: "LedgerTests", dependencies: ["Codec", "ConsensusSimulation", "Crypto", "Ledger"],
            path: "Tests/LedgerTests"),
        .testTarget(
            name: "StorageTests",
            dependencies: ["Storage", "Ledger", "Crypto", "Codec", "ensure-crash-writer"],
            path: "Tests/StorageTests"
        ),
        .testTarget(
            name: "ConsensusTests",
            dependencies: ["Consensus", "ConsensusSimulation", "Ledger", "Crypto", "Codec"],
            path: "Tests/ConsensusTests"
        ),
        .testTarget(
            name: "NetworkTests",
            dependencies: [
                "Network", "Crypto", "Codec",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/NetworkTests"
        ),
        .testTarget(
            name: "MempoolTests", dependencies: ["Mempool", "Ledger", "Crypto", "Codec", "ConsensusSimulation"],
            path: "Tests/MempoolTests"),
        .testTarget(
            name: "NodeConfigTests", dependencies: ["NodeConfig", "Ledger", "Crypto", "Codec"],
            path: "Tests/NodeConfigTests"),
        .testTarget(
            name: "CLITests", dependencies: ["ensure", "Crypto", "Ledger", "NodeConfig"], path: "Tests/CLITests"),
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
