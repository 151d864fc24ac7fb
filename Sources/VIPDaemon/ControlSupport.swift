import Hummingbird
import NIOCore
import VIPCore

/// Body of GET /health.
public struct HealthReport: Codable, Sendable, ResponseEncodable {
    public var healthy: Bool
    public var reason: String
}

/// Refuses any request without `Authorization: Bearer <token>` (TCP listener).
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
              constantTimeEqual(Array(header.dropFirst(7).utf8), token) else {
            return Response(status: .unauthorized, headers: [.wwwAuthenticate: "Bearer"],
                            body: .init(byteBuffer: ByteBuffer(string: "{\"ok\":false,\"message\":\"missing or wrong bearer token\"}")))
        }
        return try await next(request, context)
    }
}

/// Comparison whose time does not depend on where the inputs differ.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for (x, y) in zip(a, b) { difference |= x ^ y }
    return difference == 0
}

extension NodeEngine {
    /// Runs `body` on the engine's event loop and returns its result.
    public func onLoop<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await loop.submit(body).get()
    }
}
