// swift-tools-version:6.0
// The targets mirror the architecture (docs/architecture.md):
//   VIPCore        pure logic: config model, wire codec, election, hysteresis
//   VIPLinux       the operating system behind narrow protocols
//   VIPDaemon      wiring: transport, clock, control API, services
//   VIPTestSupport fakes and a simulated network for tests
//   vipd / vipctl  thin executables
import PackageDescription

let package = Package(
    name: "vipd",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "vipd", targets: ["vipd"]),
        .executable(name: "vipctl", targets: ["vipctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .target(
            name: "VIPCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // libcap (Debian libcap-dev) for keeping CAP_NET_ADMIN/CAP_NET_RAW after setuid.
        .systemLibrary(name: "CLibcap", path: "Sources/CLibcap"),
        // timerfd(2) from glibc's headers (no library to link).
        .systemLibrary(name: "CTimerFD", path: "Sources/CTimerFD"),
        // posix_spawn_file_actions_addclosefrom_np from glibc's headers.
        .systemLibrary(name: "CSpawn", path: "Sources/CSpawn"),
        // malloc_trim from glibc's <malloc.h>.
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        .target(
            name: "VIPLinux",
            dependencies: ["VIPCore", "CLibcap", "CTimerFD", "CSpawn", "CMalloc"]
        ),
        .target(
            name: "VIPDaemon",
            dependencies: [
                "VIPCore",
                "VIPLinux",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        .target(
            name: "VIPTestSupport",
            dependencies: ["VIPCore"]
        ),
        .executableTarget(
            name: "vipd",
            dependencies: [
                "VIPCore",
                "VIPDaemon",
                "VIPLinux",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "vipctl",
            dependencies: [
                "VIPCore",
                "VIPLinux",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "VIPCoreTests",
            dependencies: ["VIPCore", "VIPTestSupport"]
        ),
        .testTarget(
            name: "VIPLinuxTests",
            dependencies: ["VIPLinux", "VIPCore"]
        ),
        .testTarget(
            name: "VIPDaemonTests",
            dependencies: [
                "VIPDaemon", "VIPCore", "VIPTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// Fuzz targets (Fuzz/, docs/benchmarks.md "Fuzzing"): libFuzzer executables,
// declared only when VIPD_FUZZ is set (scripts/fuzz.sh sets it and builds them
// with libFuzzer and ASan), so `swift build` and `swift test` never see them.
if Context.environment["VIPD_FUZZ"] != nil {
    // Coverage and ASan for vipd's own Swift code only (scripts/fuzz.sh gives
    // the C code ASan): instrumenting swift-crypto and Yams as well halved the
    // executions per second, for no coverage of vipd worth having.
    let sanitizers = ["-sanitize=fuzzer,address"]
    for target in package.targets where ["VIPCore", "VIPLinux"].contains(target.name) {
        target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(sanitizers)]
    }
    package.targets += [
        .systemLibrary(name: "CFuzzDriver", path: "Fuzz/CFuzzDriver"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzDriver"], path: "Fuzz/FuzzSupport"),
    ]
    let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
        ("FuzzHeartbeat", ["VIPCore", .product(name: "Crypto", package: "swift-crypto")]),
        ("FuzzConfig", ["VIPCore"]),
        ("FuzzNetlink", ["VIPLinux", "VIPCore"]),
        ("FuzzStatus", ["VIPCore"]),
        ("FuzzVRRP", ["VIPCore", "VIPLinux"]),
    ]
    for target in fuzzTargets {
        package.targets.append(.executableTarget(
            name: target.name, dependencies: target.dependencies + ["FuzzSupport"], path: "Fuzz/\(target.name)",
            swiftSettings: [.unsafeFlags(sanitizers)], linkerSettings: [.unsafeFlags(sanitizers)]))
        package.products.append(.executable(name: target.name, targets: [target.name]))
    }
}
