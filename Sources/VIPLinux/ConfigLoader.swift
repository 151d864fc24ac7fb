import VIPCore


/// A configuration together with the secrets it points to, ready to run.
public struct LoadedConfig: Sendable {
    public var path: String
    public var config: VIPConfig
    public var key: HeartbeatKey
}

/// Reads and validates a config file and the files it names. Used by
/// `vipd`, `vipd check-config` and reload alike, so all three agree.
public enum ConfigLoader {
    public static func load(path: String) throws(ConfigErrors) -> LoadedConfig {
        let text: String
        do {
            text = try TextFile.read(path)
        } catch {
            throw ConfigErrors([ConfigIssue(file: path, line: nil, field: "", message: error.description)])
        }
        let config = try ConfigParser.parse(text, file: path)
        let bytes: [UInt8]
        do {
            bytes = try SecretFile.read(config.auth.keyFile)
        } catch {
            throw ConfigErrors([ConfigIssue(file: path, line: nil, field: "auth.key_file", message: error.description)])
        }
        guard let key = HeartbeatKey(bytes: bytes) else {
            throw ConfigErrors([ConfigIssue(
                file: path, line: nil, field: "auth.key_file",
                message: "\(config.auth.keyFile) holds \(bytes.count) bytes; at least \(HeartbeatKey.minimumLength) are needed (e.g. head -c 32 /dev/urandom | base64 > \(config.auth.keyFile))")])
        }
        return LoadedConfig(path: path, config: config, key: key)
    }
}
