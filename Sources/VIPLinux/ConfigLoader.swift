import VIPCore


/// A configuration together with the secrets it points to, ready to run.
public struct LoadedConfig: Sendable {
    public var path: String
    public var config: VIPConfig
    public var key: HeartbeatKey
    /// The control API's TCP bearer token (control.token_file), if configured.
    public var controlToken: [UInt8]?
    /// Webhook HMAC secrets by URL (notify.webhooks[].secret_file).
    public var webhookSecrets: [String: [UInt8]] = [:]

    public init(path: String, config: VIPConfig, key: HeartbeatKey, controlToken: [UInt8]? = nil,
                webhookSecrets: [String: [UInt8]] = [:]) {
        self.path = path
        self.config = config
        self.key = key
        self.controlToken = controlToken
        self.webhookSecrets = webhookSecrets
    }
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
        var loaded = LoadedConfig(path: path, config: config, key: key)
        if let tokenFile = config.control.tokenFile {
            loaded.controlToken = try secret(tokenFile, field: "control.token_file", path: path)
        }
        for (index, hook) in config.notify.webhooks.enumerated() {
            guard let file = hook.secretFile else { continue }
            loaded.webhookSecrets[hook.url] = try secret(file, field: "notify.webhooks[\(index)].secret_file", path: path)
        }
        return loaded
    }

    static func secret(_ file: String, field: String, path: String) throws(ConfigErrors) -> [UInt8] {
        let bytes: [UInt8]
        do {
            bytes = try SecretFile.read(file)
        } catch {
            throw ConfigErrors([ConfigIssue(file: path, line: nil, field: field, message: error.description)])
        }
        guard !bytes.isEmpty else {
            throw ConfigErrors([ConfigIssue(file: path, line: nil, field: field, message: "\(file) is empty")])
        }
        return bytes
    }
}
