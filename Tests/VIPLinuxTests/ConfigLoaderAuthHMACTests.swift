#if canImport(Glibc)
import Glibc
#endif
import Testing
import VIPCore
import VIPLinux

/// The loader reads `vrrp3.auth_hmac.key_file` as keepalived reads `key N file:PATH`.
@Suite struct ConfigLoaderAuthHMACTests {
    static func store(_ path: String, _ text: String, mode: mode_t = 0o600) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)
        _ = text.utf8CString.withUnsafeBufferPointer { Glibc.write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
        chmod(path, mode)
    }

    static func config(_ dir: String) -> String {
        """
        node: {id: node-a, interface: eth0, address: 198.18.0.1, priority: 150}
        peers: [{id: node-b, address: 198.18.0.2}]
        auth: {key_file: \(dir)/auth.key}
        instances:
          - name: VI_1
            vrid: 51
            vips: [{address: 198.18.0.100/24}]
            protocol: vrrp3
            vrrp3:
              auth_hmac: {key_file: \(dir)/vrrp51.key}

        """
    }

    func load(_ dir: String) -> Result<LoadedConfig, ConfigErrors> {
        Self.store("\(dir)/vipd.yaml", Self.config(dir), mode: 0o644)
        do { return .success(try ConfigLoader.load(path: "\(dir)/vipd.yaml")) } catch { return .failure(error) }
    }

    @Test func aHexKeyFileIsDecodedIntoTheSettings() {
        AtomicFileTests.withDirectory { dir in
            Self.store("\(dir)/auth.key", "0123456789abcdef0123456789abcdef\n")
            Self.store("\(dir)/vrrp51.key", "hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n")
            guard case .success(let loaded) = load(dir), case .vrrp3(let settings) = loaded.config.instances[0].wire else {
                Issue.record("not loaded: \(load(dir))")
                return
            }
            #expect(settings.authHMAC?.key == Array(0...31))
        }
    }

    @Test func aReadableOrShortKeyFileIsRefusedWithFileLineAndField() {
        AtomicFileTests.withDirectory { dir in
            Self.store("\(dir)/auth.key", "0123456789abcdef0123456789abcdef\n")
            Self.store("\(dir)/vrrp51.key", "hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", mode: 0o644)
            guard case .failure(let open) = load(dir), let issue = open.issues.first else { Issue.record("loaded"); return }
            #expect(issue.file == "\(dir)/vipd.yaml" && issue.line == 10)
            #expect(issue.field == "instances[0].vrrp3.auth_hmac.key_file")
            #expect(issue.message.contains("chmod 600"))
            Self.store("\(dir)/vrrp51.key", "too short\n")
            guard case .failure(let short) = load(dir), let issue = short.issues.first else { Issue.record("loaded"); return }
            #expect(issue.line == 10 && issue.message.contains("9-byte key"))
        }
    }
}
