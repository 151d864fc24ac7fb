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
        var config = try ConfigParser.parse(text, file: path)
        try loadAuthHMACKeys(&config, path: path)
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

    /// `instances[].vrrp3.auth_hmac.key_file`: read (mode 0600, as auth.key_file)
    /// and decoded as keepalived decodes `key N file:PATH` (`hex:...` or ASCII, 32 to 64 bytes).
    static func loadAuthHMACKeys(_ config: inout VIPConfig, path: String) throws(ConfigErrors) {
        var issues: [ConfigIssue] = []
        for index in config.instances.indices {
            guard case .vrrp3(var settings) = config.instances[index].wire, var hmac = settings.authHMAC else { continue }
            let field = "instances[\(index)].vrrp3.auth_hmac.key_file"
            let content: [UInt8]
            do {
                content = try SecretFile.read(hmac.keyFile)
            } catch {
                issues.append(ConfigIssue(file: path, line: hmac.keyFileLine, field: field, message: error.description))
                continue
            }
            switch VRRPAuthHMACSettings.decodeKey(content) {
            case .success(let key): hmac.key = key
            case .failure(let problem):
                issues.append(ConfigIssue(file: path, line: hmac.keyFileLine, field: field, message: "\(hmac.keyFile) \(problem)"))
                continue
            }
            settings.authHMAC = hmac
            config.instances[index].wire = .vrrp3(settings)
        }
        if !issues.isEmpty { throw ConfigErrors(issues) }
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
