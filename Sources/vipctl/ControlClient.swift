import AsyncHTTPClient
import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1

/// Talks HTTP to vipd's Unix control socket, turning the usual failures into
/// one clear sentence and a documented exit code.
struct ControlClient {
    let socket: String

    func get(_ path: String) async throws -> [UInt8] {
        try await send(path, method: .GET, body: nil)
    }

    /// POSTs a JSON body; returns the decoded answer even on a refusal (the
    /// caller prints its message), failing only when the daemon is unreachable.
    func post<Body: Encodable>(_ path: String, _ body: Body) async throws -> (status: Int, result: ActionAnswer) {
        let data = try JSONEncoder().encode(body)
        let (status, bytes) = try await exchange(path, method: .POST, body: Array(data))
        guard let answer = try? JSONDecoder().decode(ActionAnswer.self, from: Data(bytes)) else {
            throw fail("vipd answered \(status) with an unreadable body: \(String(decoding: bytes, as: UTF8.self))", code: 1)
        }
        return (status, answer)
    }

    private func send(_ path: String, method: HTTPMethod, body: [UInt8]?) async throws -> [UInt8] {
        let (status, bytes) = try await exchange(path, method: method, body: body)
        guard status == 200 else {
            throw fail("vipd answered \(status): \(String(decoding: bytes, as: UTF8.self))", code: 1)
        }
        return bytes
    }

    private func exchange(_ path: String, method: HTTPMethod, body: [UInt8]?) async throws -> (Int, [UInt8]) {
        try preflight()
        guard let url = URL(httpURLWithSocketPath: socket, uri: path) else {
            throw fail("invalid socket path \(socket)", code: 2)
        }
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let client = HTTPClient.shared
        let response: HTTPClientResponse
        do {
            // A planned failover waits for the new master: allow for it.
            response = try await client.execute(request, timeout: .seconds(120))
        } catch {
            throw fail("cannot reach vipd at \(socket): \(error)", code: 3)
        }
        let collected = try await response.body.collect(upTo: 4 << 20)
        return (Int(response.status.code), Array(collected.readableBytesView))
    }

    /// Distinguishes "not running" from "not allowed" before connecting.
    private func preflight() throws {
        let directory = (socket as NSString).deletingLastPathComponent
        if access(directory, X_OK) != 0 && errno == EACCES {
            throw fail("permission denied on \(directory): run as root or as a member of the control socket's group", code: 4)
        }
        guard FileManager.default.fileExists(atPath: socket) else {
            throw fail("vipd is not running (no control socket at \(socket)); start it or pass --socket", code: 3)
        }
        guard access(socket, W_OK) == 0 else {
            throw fail("permission denied on \(socket): run as root or as a member of the socket's group", code: 4)
        }
    }

    func fail(_ message: String, code: Int32) -> ExitCode {
        FileHandle.standardError.write(Data("vipctl: \(message)\n".utf8))
        return ExitCode(code)
    }
}

/// The daemon's answer to a POST (see ActionResult in the daemon).
struct ActionAnswer: Decodable {
    var ok: Bool
    var message: String
    var master: String?
    var duration_ms: Double?
}
