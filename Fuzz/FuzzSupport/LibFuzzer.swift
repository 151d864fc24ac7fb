import CFuzzDriver
#if canImport(Glibc)
import Glibc
#endif

/// Runs libFuzzer (its command line is the program's) with `body` as the
/// target. SwiftPM gives each executable a `main` of its own, so the targets
/// start the fuzzer through LLVMFuzzerRunDriver instead of libFuzzer's main.
///
/// With VIPD_FUZZ_SEEDS=DIR in the environment it writes `seeds()` to DIR
/// (seed-1, seed-2, ...) and exits instead: seeds built with vipd's own
/// encoders (scripts/fuzz.sh seed).
public enum LibFuzzer {
    nonisolated(unsafe) static var target: (UnsafeBufferPointer<UInt8>) -> Void = { _ in }

    public static func run(_ body: @escaping (UnsafeBufferPointer<UInt8>) -> Void,
                           seeds: () -> [[UInt8]] = { [] }) -> Never {
        if let dir = getenv("VIPD_FUZZ_SEEDS") { write(seeds(), to: String(cString: dir)) }
        target = body
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            LibFuzzer.target(UnsafeBufferPointer(start: data, count: size))
            return 0
        }
        exit(status)
    }

    static func write(_ seeds: [[UInt8]], to dir: String) -> Never {
        for (index, seed) in seeds.enumerated() {
            let path = "\(dir)/seed-\(index + 1)"
            guard let file = fopen(path, "wb") else { fatalError("cannot write \(path)") }
            _ = seed.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
            fclose(file)
        }
        exit(0)
    }
}
