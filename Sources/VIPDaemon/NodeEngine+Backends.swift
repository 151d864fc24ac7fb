import VIPCore

/// The nginx upstream's view of the backends, merged over the instances.
extension NodeEngine {
    func mergedBackendView() -> BackendHealthView {
        guard instances.count > 1 else { return primary.router.peers.backendView(localHealthy: backendHealthy) }
        // Per peer, the freshest entry of any instance that runs with it.
        return BackendHealthView(localHealthy: backendHealthy, peers: config.peers.compactMap { peer in
            var freshest: PeerTable.Entry?
            for runner in instances {
                guard let entry = runner.router.peers[peer.id] else { continue }
                if let best = freshest,
                   (best.alive ? 1 : 0, best.lastHeard ?? .zero) >= (entry.alive ? 1 : 0, entry.lastHeard ?? .zero) { continue }
                freshest = entry
            }
            // A witness runs no backend: out of the upstream once it is heard.
            if freshest?.flags.contains(.witness) == true { return nil }
            return .init(id: peer.id, address: peer.address, alive: freshest?.alive ?? false,
                         heard: freshest?.lastHeard != nil, reportsHealthy: freshest?.flags.contains(.backendHealthy) ?? false)
        })
    }

    func reportBackendsIfChanged() {
        let view = mergedBackendView()
        guard view != reportedBackends else { return }
        reportedBackends = view
        for observer in onBackendsChanged { observer(view) }
    }
}
