extension ConfigParser {
    /// `vrrp3.auth_hmac: {key_file, key_id, time_window, mode, anti_replay}`
    /// (keepalived 2.4's `auth_hmac` block with one `key N file:PATH`, `active_key N`).
    /// The key file itself is read by the loader.
    static func parseAuthHMAC(_ vrrp3: MappingView, _ reader: YAMLReader) -> VRRPAuthHMACSettings? {
        guard let raw = vrrp3.child("auth_hmac"),
              let map = reader.mapping(raw, at: vrrp3.path("auth_hmac"),
                                       allowed: ["key_file", "key_id", "time_window", "mode", "anti_replay"])
        else { return nil }
        guard let file = map.string("key_file", required: true) else { return nil }
        var settings = VRRPAuthHMACSettings(keyFile: file, keyFileLine: map.child("key_file")?.mark?.line)
        if !file.hasPrefix("/") {
            reader.fail(map.path("key_file"), map.child("key_file"), "expected an absolute path, got \"\(file)\"")
        }
        if let id: UInt8 = map.integer("key_id", 1...255) { settings.keyID = id }
        if let text = map.string("mode") {
            if let mode = VRRPAuthHMACSettings.Mode(rawValue: text) {
                settings.mode = mode
            } else {
                reader.fail(map.path("mode"), map.child("mode"),
                            "expected one of \(VRRPAuthHMACSettings.Mode.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"")
            }
        }
        if let text = map.string("anti_replay") {
            if let mode = VRRPAuthHMACSettings.AntiReplay(rawValue: text) {
                settings.antiReplay = mode
            } else {
                reader.fail(map.path("anti_replay"), map.child("anti_replay"),
                            "expected one of \(VRRPAuthHMACSettings.AntiReplay.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"")
            }
        }
        let range = VRRPAuthHMAC.windowRange
        if let window = map.span("time_window", .seconds(Int64(range.lowerBound))...Span.seconds(Int64(range.upperBound))) {
            if window.nanoseconds % 1_000_000_000 != 0 {
                reader.fail(map.path("time_window"), map.child("time_window"), "must be whole seconds (keepalived's unit), got \(window)")
            } else {
                settings.timeWindow = Int(window.nanoseconds / 1_000_000_000)
            }
            if settings.antiReplay == .monotonic {
                reader.fail(map.path("time_window"), map.child("time_window"), "only with anti_replay: time")
            }
        }
        return settings
    }
}
