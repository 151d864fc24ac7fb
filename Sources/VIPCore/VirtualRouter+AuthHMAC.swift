/// `vrrp3.auth_hmac` in the router: the trailer on outgoing adverts, the
/// checks on incoming ones, in keepalived 2.4.3's order (format, freshness,
/// key id, HMAC, then the per-sender replay mark, moved only by an authentic advert).
extension VirtualRouter {
    /// The trailer for an advert `message`, or nil when not signing.
    mutating func signTrailer(_ message: [UInt8]) -> [UInt8]? {
        guard let vrrp, let hmac = vrrp.settings.authHMAC, hmac.signs else { return nil }
        let now = wallClock.read()
        let sequence = hmacSender.next(clock: VRRPAuthHMAC.clockSequence(seconds: now.seconds, nanoseconds: now.nanoseconds),
                                       windowSeconds: windowSeconds(hmac))
        return VRRPAuthHMAC.sign(message: message, source: vrrp.source, vrid: identity.vrid, keyID: hmac.keyID,
                                 key: hmac.key, sequence: sequence)
    }

    /// nil: accepted (or no auth_hmac); else why the advert is dropped.
    mutating func authenticate(_ message: ArraySlice<UInt8>, _ trailer: VRRPHMACTrailer?, from source: IPAddress) -> DropReason? {
        guard let vrrp, let hmac = vrrp.settings.authHMAC else { return nil }
        guard let trailer else { return hmac.mode == .enforce ? .hmacMissing : nil }
        let now = wallClock.read().seconds
        let window = windowSeconds(hmac)
        switch VRRPAuthHMAC.verify(message: message, trailer: trailer, source: source, vrid: identity.vrid,
                                   keyID: hmac.keyID, key: hmac.key, nowSeconds: now, windowSeconds: window) {
        case .failure(.stale): return .hmacStale
        case .failure(.unknownKey): return .unknownKey
        case .failure(.malformed), .failure(.badMAC): return .badAuth
        case .failure(.replay): return .replay
        case .success:
            var mark = hmacReplay[source] ?? VRRPAuthHMAC.Replay()
            defer { hmacReplay[source] = mark }
            return mark.accept(trailer.sequence, nowSeconds: now, windowSeconds: window) ? nil : .replay
        }
    }

    /// The freshness window in seconds; nil in monotonic mode.
    func windowSeconds(_ hmac: VRRPAuthHMACSettings) -> Int? {
        hmac.antiReplay == .time ? hmac.window(advertInterval: election.settings.advertInterval) : nil
    }
}
