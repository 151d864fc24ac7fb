import AsyncHTTPClient
import ArgumentParser
import Foundation
import NIOCore

/// Talks HTTP to vipd's Unix control socket, turning the usual failures into
/// one clear sentence and a documented exit code.
struct ControlClient {
    let socket: String

    func get(_ path: String) async throws -> [UInt8] {
        try preflight()
        guard let url = URL(httpURLWithSocketPath: socket, uri: path) else {
            throw fail("invalid socket path \(socket)", code: 2)
        }
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .GET
        let client = HTTPClient.shared
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .seconds(5))
        } catch {
            throw fail("cannot reach vipd at \(socket): \(error)", code: 3)
        }
        let body = try await response.body.collect(upTo: 4 << 20)
        let bytes = Array(body.readableBytesView)
        guard response.status == .ok else {
            throw fail("vipd answered \(response.status.code): \(String(decoding: bytes, as: UTF8.self))", code: 1)
        }
        return bytes
    }

    /// Distinguishes "not running" from "not allowed" before connecting.
    private func preflight() throws {
        guard FileManager.default.fileExists(atPath: socket) else {
            throw fail("vipd is not running (no control socket at \(socket)); start it or pass --socket", code: 3)
        }
        guard access(socket, W_OK) == 0 else {
            throw fail("permission denied on \(socket): run as root or as a member of the socket's group", code: 4)
        }
    }

    private func fail(_ message: String, code: Int32) -> ExitCode {
        FileHandle.standardError.write(Data("vipctl: \(message)\n".utf8))
        return ExitCode(code)
    }
}
