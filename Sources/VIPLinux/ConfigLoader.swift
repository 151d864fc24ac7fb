import VIPCore


/// A configuration together with the secrets it points to, ready to run.
public struct LoadedConfig: Sendable {
    public var path: String
    public var config: VIPConfig
    /// The signing key (auth.key_file) and the accepted ones (auth.accept_key_files).
    public var keys: HeartbeatKeyring
    public var key: HeartbeatKey { keys.signing }
    /// The control API's TCP bearer token (control.token_file), if configured.
    public var controlToken: [UInt8]?
    /// Webhook HMAC secrets by URL (notify.webhooks[].secret_file).
    public var webhookSecrets: [String: [UInt8]] = [:]

    public init(path: String, config: VIPConfig, key: HeartbeatKey, controlToken: [UInt8]? = nil,
                webhookSecrets: [String: [UInt8]] = [:]) {
        self.init(path: path, config: config, keys: HeartbeatKeyring(signing: key), controlToken: controlToken,
                  webhookSecrets: webhookSecrets)
    }

    public init(path: String, config: VIPConfig, keys: HeartbeatKeyring, controlToken: [UInt8]? = nil,
                webhookSecrets: [String: [UInt8]] = [:]) {
        self.path = path
        self.config = config
        self.keys = keys
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
        let key = try heartbeatKey(config.auth.keyFile, field: "auth.key_file", path: path)
        var accepted: [HeartbeatKey] = []
        for (index, file) in config.auth.acceptKeyFiles.enumerated() {
            let field = "auth.accept_key_files[\(index)]"
            let extra = try heartbeatKey(file, field: field, path: path)
            if extra.id == key.id || accepted.contains(where: { $0.id == extra.id }) {
                throw ConfigErrors([ConfigIssue(file: path, line: nil, field: field,
                                                message: "\(file) holds a key already listed (fingerprint \(extra.fingerprint))")])
            }
            accepted.append(extra)
        }
        var loaded = LoadedConfig(path: path, config: config, keys: HeartbeatKeyring(signing: key, accepted: accepted))
        if let tokenFile = config.control.tokenFile {
            loaded.controlToken = try secret(tokenFile, field: "control.token_file", path: path)
        }
        for (index, hook) in config.notify.webhooks.enumerated() {
            guard let file = hook.secretFile else { continue }
            loaded.webhookSecrets[hook.url] = try secret(file, field: "notify.webhooks[\(index)].secret_file", path: path)
        }
        return loaded
    }

    static func heartbeatKey(_ file: String, field: String, path: String) throws(ConfigErrors) -> HeartbeatKey {
        let bytes: [UInt8]
        do {
            bytes = try SecretFile.read(file)
        } catch {
            throw ConfigErrors([ConfigIssue(file: path, line: nil, field: field, message: error.description)])
        }
        guard let key = HeartbeatKey(bytes: bytes) else {
            throw ConfigErrors([ConfigIssue(
                file: path, line: nil, field: field,
                message: "\(file) holds \(bytes.count) bytes; at least \(HeartbeatKey.minimumLength) are needed (e.g. head -c 32 /dev/urandom | base64 > \(file))")])
        }
        return key
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
