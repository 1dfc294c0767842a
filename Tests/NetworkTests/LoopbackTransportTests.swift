import EnsureCrypto
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PeerNetwork
import Testing

/// The transport over real TCP on 127.0.0.1, ports chosen by the operating system. Every wait is bounded by
/// ``eventually(within:_:)``; nothing asserts on timing.
@Suite(.timeLimit(.minutes(1)))
struct LoopbackTransportTests {
    static func allow(_ nodes: Ed25519PrivateKey...) -> PeerAuthorizer {
        .only(Set(nodes.map(\.publicKey)))
    }

    @Test func threeNodesConnectExchangeBothWaysAndBroadcast() async throws {
        let (a, b, c) = (Ed25519PrivateKey(), Ed25519PrivateKey(), Ed25519PrivateKey())
        let authorizer = Self.allow(a, b, c)
        let nodeA = try await TestNode.start(identity: a, authorizer: authorizer)
        let nodeB = try await TestNode.start(identity: b, peers: [nodeA.address], authorizer: authorizer)
        let nodeC = try await TestNode.start(
            identity: c, peers: [nodeA.address, nodeB.address], authorizer: authorizer)
        for node in [nodeA, nodeB, nodeC] {
            let others = Set([a, b, c].map(\.publicKey)).subtracting([node.key]).sorted()
            #expect(await eventually { await node.transport.connectedPeers() == others })
        }

        try nodeA.transport.send(Array("a to b".utf8), to: b.publicKey)
        try nodeB.transport.send(Array("b to a".utf8), to: a.publicKey)
        let reached = try nodeC.transport.broadcast(Array("c to all".utf8))
        #expect(reached == [a.publicKey, b.publicKey].sorted())

        #expect(await eventually { await nodeA.seen.messages.count == 2 })
        #expect(await eventually { await nodeB.seen.messages.count == 2 })
        let atA = await nodeA.seen.messages
        let atB = await nodeB.seen.messages
        #expect(atA.contains(InboundMessage(peer: b.publicKey, bytes: Array("b to a".utf8))))
        #expect(atA.contains(InboundMessage(peer: c.publicKey, bytes: Array("c to all".utf8))))
        #expect(atB.contains(InboundMessage(peer: a.publicKey, bytes: Array("a to b".utf8))))
        #expect(atB.contains(InboundMessage(peer: c.publicKey, bytes: Array("c to all".utf8))))
        #expect(await nodeC.seen.messages.isEmpty)
        let statistics = try #require(await nodeC.transport.statistics(for: a.publicKey))
        #expect(statistics.sentMessages == 1)
        #expect(statistics.droppedOutboundMessages == 0)

        for node in [nodeA, nodeB, nodeC] { await node.transport.shutdown() }
    }

    @Test("a receiver set before start gets every message in order, on the connection's loop, with nothing buffered")
    func directReceiverRunsOnTheLoop() async throws {
        let (a, b) = (Ed25519PrivateKey(), Ed25519PrivateKey())
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let configuration = try PeerTransportConfiguration(
            identity: a, chainID: TestNode.chainID, listenHost: "127.0.0.1", listenPort: 0, peers: [],
            authorizer: Self.allow(a, b))
        let transport = PeerTransport(
            configuration: configuration, eventLoopGroup: loop,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let received = NIOLockedValueBox<[(bytes: [UInt8], onLoop: Bool)]>([])
        transport.deliver { message in
            received.withLockedValue { $0.append((message.bytes, loop.inEventLoop)) }
        }
        let port = try await transport.start()
        let nodeB = try await TestNode.start(
            identity: b, peers: [PeerAddress(key: a.publicKey, host: "127.0.0.1", port: port)],
            authorizer: Self.allow(a, b))
        #expect(await eventually { await nodeB.transport.connectedPeers() == [a.publicKey] })
        for index in 0..<100 { try nodeB.transport.send([UInt8(index)], to: a.publicKey) }
        #expect(await eventually { received.withLockedValue { $0.count } == 100 })
        let messages = received.withLockedValue { $0 }
        #expect(messages.map { Int($0.bytes[0]) } == Array(0..<100))
        #expect(messages.filter { !$0.onLoop }.isEmpty)
        #expect(transport.inboundBufferedBytes == 0)
        await nodeB.transport.shutdown()
        await transport.shutdown()
        try await group.shutdownGracefully()
    }

    @Test func manyMessagesArriveInOrder() async throws {
        let (a, b) = (Ed25519PrivateKey(), Ed25519PrivateKey())
        let nodeA = try await TestNode.start(identity: a, authorizer: Self.allow(a, b))
        let nodeB = try await TestNode.start(identity: b, peers: [nodeA.address], authorizer: Self.allow(a, b))
        #expect(await eventually { await nodeB.transport.connectedPeers() == [a.publicKey] })
        for index in 0..<500 {
            try nodeB.transport.send([UInt8(index % 256), UInt8(index / 256)], to: a.publicKey)
        }
        #expect(await eventually { await nodeA.seen.messages.count == 500 })
        let received = await nodeA.seen.messages.map { Int($0.bytes[0]) + Int($0.bytes[1]) * 256 }
        #expect(received == Array(0..<500))
        await nodeA.transport.shutdown()
        await nodeB.transport.shutdown()
    }

    @Test func unauthorizedKeyIsRefusedInbound() async throws {
        let (a, b) = (Ed25519PrivateKey(), Ed25519PrivateKey())
        let nodeA = try await TestNode.start(identity: a, authorizer: Self.allow(a))
        let nodeB = try await TestNode.start(identity: b, peers: [nodeA.address], authorizer: Self.allow(a, b))
        let refusedB = HandshakeError.unauthorizedPeer(b.publicKey)
        #expect(
            await nodeA.sawHandshakeRefusal(as: .responder, refusedB))
        #expect(await nodeA.transport.connectedPeers().isEmpty)
        #expect(await nodeB.transport.connectedPeers().isEmpty)
        #expect(throws: PeerTransportError.notConnected(a.publicKey)) {
            try nodeB.transport.send([1], to: a.publicKey)
        }
        await nodeA.transport.shutdown()
        await nodeB.transport.shutdown()
    }

    @Test func unauthorizedKeyIsRefusedOutbound() async throws {
        let (a, b) = (Ed25519PrivateKey(), Ed25519PrivateKey())
        let nodeB = try await TestNode.start(identity: b, authorizer: Self.allow(a, b))
        let nodeA = try await TestNode.start(identity: a, peers: [nodeB.address], authorizer: Self.allow(a))
        let refusedB = HandshakeError.unauthorizedPeer(b.publicKey)
        #expect(
            await nodeA.sawHandshakeRefusal(as: .initiator, refusedB))
        #expect(await nodeA.transport.connectedPeers().isEmpty)
        #expect(await nodeB.transport.connectedPeers().isEmpty)
        await nodeA.transport.shutdown()
        await nodeB.transport.shutdown()
    }

    @Test func dialerExpectingOneKeyButReachingAnotherRefuses() async throws {
        let (a, b, c) = (Ed25519PrivateKey(), Ed25519PrivateKey(), Ed25519PrivateKey())
        let authorizer = Self.allow(a, b, c)
        let nodeB = try await TestNode.start(identity: b, authorizer: authorizer)
        // C believes A listens at B's port.
        let wrong = PeerAddress(key: a.publicKey, host: "127.0.0.1", port: nodeB.port)
        let nodeC = try await TestNode.start(identity: c, peers: [wrong], authorizer: authorizer)
        let mismatch = HandshakeError.unexpectedPeer(expected: a.publicKey, received: b.publicKey)
        #expect(
            await nodeC.sawHandshakeRefusal(as: .initiator, mismatch))
        #expect(await nodeC.transport.connectedPeers().isEmpty)
        #expect(await nodeB.transport.connectedPeers().isEmpty)
        await nodeB.transport.shutdown()
        await nodeC.transport.shutdown()
    }

    @Test func wrongChainIsRefused() async throws {
        let (a, b) = (Ed25519PrivateKey(), Ed25519PrivateKey())
        let nodeA = try await TestNode.start(identity: a, authorizer: Self.allow(a, b))
        let nodeB = try await TestNode.start(
            identity: b, chainID: "other-chain", peers: [nodeA.address], authorizer: Self.allow(a, b))
        let mismatch = HandshakeError.chainMismatch(expected: TestNode.chainID, received: "other-chain")
        #expect(
            await nodeA.sawHandshakeRefusal(as: .responder, mismatch))
        #expect(await nodeA.transport.connectedPeers().isEmpty)
        #expect(await nodeB.transport.connectedPeers().isEmpty)
        await nodeA.transport.shutdown()
        await nodeB.transport.shutdown()
    }

    @Test func tamperedCiphertextByteClosesTheConnection() async throws {
        let (a, p) = (Ed25519PrivateKey(), Ed25519PrivateKey())
        let limits = TransportLimits(maximumMessageByteCount: 4096)
        let nodeA = try await TestNode.start(identity: a, authorizer: Self.allow(a, p), limits: limits)
        var (channel, session) = try await connectScriptedPeer(
            to: nodeA.port, identity: p, expecting: a.publicKey, maximumMessageByteCount: 4096)
        #expect(await eventually { await nodeA.transport.connectedPeers() == [p.publicKey] })

        // A valid frame first, so the refusal below is about the tampering alone.
        try await channel.writeAndFlush(ByteBuffer(bytes: session.sealer.seal(Array("valid".utf8))))
        #expect(await eventually { await nodeA.seen.messages.count == 1 })
        var tampered = try session.sealer.seal(Array("tampered".utf8))
        tampered[7] ^= 0x01
        try await channel.writeAndFlush(ByteBuffer(bytes: tampered))

        #expect(await eventually { !channel.isActive })
        let expected = PeerDisconnectReason.frameRejected(.authenticationFailed(frameIndex: 2))
        #expect(
            await eventually { await nodeA.seen.events.contains(.disconnected(peer: p.publicKey, reason: expected)) })
        #expect(await nodeA.seen.messages == [InboundMessage(peer: p.publicKey, bytes: Array("valid".utf8))])
        #expect(await nodeA.transport.connectedPeers().isEmpty)
        await nodeA.transport.shutdown()
    }

    @Test func oversizeLengthPrefixClosesTheConnectionBeforeTheBody() async throws {
        let (a, p) = (Ed25519PrivateKey(), Ed25519PrivateKey())
        let limits = TransportLimits(maximumMessageByteCount: 4096)
        let nodeA = try await TestNode.start(identity: a, authorizer: Self.allow(a, p), limits: limits)
        let (channel, _) = try await connectScriptedPeer(
            to: nodeA.port, identity: p, expecting: a.publicKey, maximumMessageByteCount: 4096)
        #expect(await eventually { await nodeA.transport.connectedPeers() == [p.publicKey] })

        // Only the prefix is sent: the node must refuse on it, not wait for (or reserve) 4 GiB of body.
        try await channel.writeAndFlush(ByteBuffer(bytes: [0xff, 0xff, 0xff, 0xf0]))
        #expect(await eventually { !channel.isActive })
        let expected = PeerDisconnectReason.frameRejected(.frameTooLarge(declared: 0xffff_fff0, maximum: 4096 + 16))
        #expect(
            await eventually { await nodeA.seen.events.contains(.disconnected(peer: p.publicKey, reason: expected)) })
        #expect(nodeA.transport.inboundBufferedBytes == 0)
        await nodeA.transport.shutdown()
    }

    @Test func garbageInsteadOfHelloIsRefused() async throws {
        let a = Ed25519PrivateKey()
        let nodeA = try await TestNode.start(identity: a, authorizer: Self.allow(a))
        let channel = try await connectRaw(to: nodeA.port)
        let garbage = Array("GET / HTTP/1.1\r\nHost: ensure\r\n\r\n".utf8)
        try await channel.writeAndFlush(ByteBuffer(bytes: garbage))
        #expect(await eventually { !channel.isActive })
        let expected = HandshakeError.badMagic(received: Array(garbage[0..<8]))
        #expect(
            await nodeA.sawHandshakeRefusal(as: .responder, expected))
        await nodeA.transport.shutdown()
    }

    @Test func otherProtocolVersionIsRefused() async throws {
        let (a, b) = (Ed25519PrivateKey(), Ed25519PrivateKey())
        let nodeA = try await TestNode.start(identity: a, authorizer: Self.allow(a, b))
        let channel = try await connectRaw(to: nodeA.port)
        var hello = HandshakeHello(
            chainID: TestNode.chainID, ephemeralKey: X25519PrivateKey().publicKey, nodeKey: b.publicKey,
            nonce: SecureRandom.bytes(32)
        ).wireBytes
        hello[8] = 2
        try await channel.writeAndFlush(ByteBuffer(bytes: hello))
        #expect(await eventually { !channel.isActive })
        let expected = HandshakeError.unsupportedVersion(received: 2, supported: 1)
        #expect(
            await nodeA.sawHandshakeRefusal(as: .responder, expected))
        #expect(await nodeA.transport.connectedPeers().isEmpty)
        await nodeA.transport.shutdown()
    }

    @Test func silentConnectionIsRefusedAfterTheHandshakeTimeout() async throws {
        let a = Ed25519PrivateKey()
        let limits = TransportLimits(handshakeTimeout: .milliseconds(200))
        let nodeA = try await TestNode.start(identity: a, authorizer: Self.allow(a), limits: limits)
        let channel = try await connectRaw(to: nodeA.port)
        #expect(await eventually { !channel.isActive })
        let expected = HandshakeError.timedOut(after: .milliseconds(200))
        #expect(
            await nodeA.sawHandshakeRefusal(as: .responder, expected))
        await nodeA.transport.shutdown()
    }

    @Test func restartedPeerIsReconnected() async throws {
        let (a, b) = (Ed25519PrivateKey(), Ed25519PrivateKey())
        let nodeA = try await TestNode.start(identity: a, authorizer: Self.allow(a, b))
        let nodeB = try await TestNode.start(identity: b, peers: [nodeA.address], authorizer: Self.allow(a, b))
        #expect(await eventually { await nodeB.transport.connectedPeers() == [a.publicKey] })

        await nodeA.transport.shutdown()
        let peerA = a.publicKey
        #expect(
            await eventually {
                await nodeB.seen.hasEvent {
                    if case .disconnected(peerA, _) = $0 { return true }
                    return false
                }
            })
        #expect(await nodeB.transport.connectedPeers().isEmpty)

        let restarted = try await TestNode.start(identity: a, port: nodeA.port, authorizer: Self.allow(a, b))
        #expect(await eventually { await nodeB.transport.connectedPeers() == [a.publicKey] })
        #expect(await eventually { await restarted.transport.connectedPeers() == [b.publicKey] })
        try nodeB.transport.send([42], to: a.publicKey)
        #expect(await eventually { await restarted.seen.messages == [InboundMessage(peer: b.publicKey, bytes: [42])] })
        await restarted.transport.shutdown()
        await nodeB.transport.shutdown()
    }

    @Test func simultaneousDialsSettleOnOneConnectionBothSidesAgreeOn() async throws {
        let (a, b) = (Ed25519PrivateKey(), Ed25519PrivateKey())
        let nodeA = try await TestNode.start(identity: a, authorizer: Self.allow(a, b))
        let nodeB = try await TestNode.start(identity: b, authorizer: Self.allow(a, b))
        async let addA: Void = nodeA.transport.addPeer(nodeB.address)
        async let addB: Void = nodeB.transport.addPeer(nodeA.address)
        _ = try await (addA, addB)
        #expect(
            await eventually {
                guard let roleAtA = await nodeA.transport.role(of: b.publicKey),
                    let roleAtB = await nodeB.transport.role(of: a.publicKey)
                else { return false }
                return roleAtA.peer == roleAtB
            })
        #expect(await nodeA.transport.connectedPeers() == [b.publicKey])
        #expect(await nodeB.transport.connectedPeers() == [a.publicKey])
        // A message in flight on a connection that loses the duplicate rule is lost with it, so keep sending
        // until one arrives on the connection that stays.
        #expect(
            await eventually {
                try? nodeA.transport.send([1], to: b.publicKey)
                return await nodeB.seen.messages.contains(InboundMessage(peer: a.publicKey, bytes: [1]))
            })
        #expect(
            await eventually {
                try? nodeB.transport.send([2], to: a.publicKey)
                return await nodeA.seen.messages.contains(InboundMessage(peer: b.publicKey, bytes: [2]))
            })
        let roleAtA = try #require(await nodeA.transport.role(of: b.publicKey))
        #expect(await nodeB.transport.role(of: a.publicKey) == roleAtA.peer)
        #expect(await nodeA.transport.connectedPeers() == [b.publicKey])
        #expect(await nodeB.transport.connectedPeers() == [a.publicKey])
        await #expect(throws: TransportConfigurationError.duplicatePeer(b.publicKey)) {
            try await nodeA.transport.addPeer(nodeB.address)
        }
        await nodeA.transport.shutdown()
        await nodeB.transport.shutdown()
    }

    @Test func secondConnectionFromTheSameInitiatorReplacesTheFirst() async throws {
        let (a, p) = (Ed25519PrivateKey(), Ed25519PrivateKey())
        let nodeA = try await TestNode.start(identity: a, authorizer: Self.allow(a, p))
        let first = try await connectScriptedPeer(
            to: nodeA.port, identity: p, expecting: a.publicKey, maximumMessageByteCount: 1 << 20)
        #expect(await eventually { await nodeA.transport.connectedPeers() == [p.publicKey] })
        var second = try await connectScriptedPeer(
            to: nodeA.port, identity: p, expecting: a.publicKey, maximumMessageByteCount: 1 << 20)
        #expect(await eventually { !first.channel.isActive })
        #expect(second.channel.isActive)
        try await second.channel.writeAndFlush(ByteBuffer(bytes: second.session.sealer.seal([7])))
        #expect(await eventually { await nodeA.seen.messages == [InboundMessage(peer: p.publicKey, bytes: [7])] })
        #expect(await nodeA.transport.connectedPeers() == [p.publicKey])
        await nodeA.transport.shutdown()
        #expect(await eventually { !second.channel.isActive })
    }

    @Test func peerThatStopsReadingDoesNotGrowTheSendersMemory() async throws {
        let (a, p) = (Ed25519PrivateKey(), Ed25519PrivateKey())
        let limits = TransportLimits(
            maximumMessageByteCount: 64 << 10, outboundQueueMessageCount: 1000, outboundQueueByteCount: 1 << 20,
            writeBufferHighWaterMark: 256 << 10, writeBufferLowWaterMark: 64 << 10)
        let nodeA = try await TestNode.start(identity: a, authorizer: Self.allow(a, p), limits: limits)
        let stalled = try await connectScriptedPeer(
            to: nodeA.port, identity: p, expecting: a.publicKey, maximumMessageByteCount: 64 << 10,
            stopReadingWhenEstablished: true)
        #expect(await eventually { await nodeA.transport.connectedPeers() == [p.publicKey] })

        let message = [UInt8](repeating: 0x5a, count: 64 << 10)
        var attempted = 0
        for round in 1...2 {
            // 40 MiB a round: far more than the kernel's socket buffers, the write buffer and the queue hold.
            for _ in 0..<640 { try nodeA.transport.send(message, to: p.publicKey) }
            attempted += 640
            let statistics = try #require(await nodeA.transport.statistics(for: p.publicKey))
            #expect(
                statistics.sentMessages + statistics.queuedMessages + statistics.droppedOutboundMessages == attempted)
            #expect(statistics.droppedOutboundMessages > 0, "round \(round)")
            #expect(statistics.queuedBytes <= limits.outboundQueueByteCount)
            #expect(statistics.bufferedSocketBytes <= limits.writeBufferHighWaterMark + (64 << 10) + 4 + 16)
        }
        #expect(stalled.channel.isActive)
        await nodeA.transport.shutdown()
    }

    @Test func receiverThatDoesNotConsumeBoundsItsInboundBuffer() async throws {
        let (a, b) = (Ed25519PrivateKey(), Ed25519PrivateKey())
        let limits = TransportLimits(inboundBufferMessageCount: 50, inboundBufferByteCount: 32 << 10)
        let nodeA = try await TestNode.start(
            identity: a, authorizer: Self.allow(a, b), limits: limits, consumeInbound: false)
        let nodeB = try await TestNode.start(identity: b, peers: [nodeA.address], authorizer: Self.allow(a, b))
        #expect(await eventually { await nodeA.transport.connectedPeers() == [b.publicKey] })
        #expect(await eventually { await nodeB.transport.connectedPeers() == [a.publicKey] })
        for _ in 0..<200 { try nodeB.transport.send([UInt8](repeating: 1, count: 1024), to: a.publicKey) }
        #expect(
            await eventually {
                await nodeA.transport.statistics(for: b.publicKey)?.receivedMessages == 200
            })
        let statistics = try #require(await nodeA.transport.statistics(for: b.publicKey))
        #expect(statistics.droppedInboundMessages == 200 - 32)
        #expect(nodeA.transport.inboundBufferedBytes == 32 << 10)
        await nodeA.transport.shutdown()
        await nodeB.transport.shutdown()
    }

    @Test func shutdownClosesEverythingAndEndsTheStreams() async throws {
        let (a, b) = (Ed25519PrivateKey(), Ed25519PrivateKey())
        let nodeA = try await TestNode.start(identity: a, authorizer: Self.allow(a, b))
        let nodeB = try await TestNode.start(identity: b, peers: [nodeA.address], authorizer: Self.allow(a, b))
        #expect(await eventually { await nodeA.transport.connectedPeers() == [b.publicKey] })
        #expect(await eventually { await nodeB.transport.connectedPeers() == [a.publicKey] })

        await nodeB.transport.shutdown()
        #expect(await nodeB.transport.connectedPeers().isEmpty)
        #expect(await eventually { await nodeB.seen.inboundFinished })
        #expect(
            await eventually {
                await nodeB.seen.events.contains(.disconnected(peer: a.publicKey, reason: .transportShutdown))
            })
        #expect(await eventually { await nodeA.transport.connectedPeers().isEmpty })
        let peerB = b.publicKey
        #expect(
            await eventually {
                await nodeA.seen.hasEvent {
                    if case .disconnected(peerB, _) = $0 { return true }
                    return false
                }
            })
        #expect(throws: PeerTransportError.notConnected(a.publicKey)) {
            try nodeB.transport.send([1], to: a.publicKey)
        }
        await #expect(throws: PeerTransportError.notIdle) { try await nodeB.transport.start() }
        await nodeA.transport.shutdown()
    }

    @Test func deauthorizedPeerIsDisconnected() async throws {
        let (a, b) = (Ed25519PrivateKey(), Ed25519PrivateKey())
        let allowed = AllowList([a.publicKey, b.publicKey])
        let authorizer = PeerAuthorizer { allowed.contains($0) }
        let nodeA = try await TestNode.start(identity: a, authorizer: authorizer)
        let nodeB = try await TestNode.start(identity: b, peers: [nodeA.address], authorizer: Self.allow(a, b))
        #expect(await eventually { await nodeA.transport.connectedPeers() == [b.publicKey] })
        allowed.remove(b.publicKey)
        await nodeA.transport.disconnectUnauthorizedPeers()
        #expect(
            await eventually {
                await nodeA.seen.events.contains(.disconnected(peer: b.publicKey, reason: .deauthorized))
            })
        #expect(await nodeA.transport.connectedPeers().isEmpty)
        await nodeA.transport.shutdown()
        await nodeB.transport.shutdown()
    }

    @Test func logsNameRefusalsButNeverKeyMaterial() async throws {
        let (a, b) = (Ed25519PrivateKey(), Ed25519PrivateKey())
        let lines = LogLines()
        let logger = Logger(label: "test") { _ in CapturingLogHandler(sink: lines) }
        let nodeA = try await TestNode.start(identity: a, authorizer: Self.allow(a), logger: logger)
        let nodeB = try await TestNode.start(
            identity: b, peers: [nodeA.address], authorizer: Self.allow(a, b), logger: logger)
        #expect(
            await eventually {
                await lines.lines.contains { $0.contains("not authorized") && $0.contains(b.publicKey.hex) }
            })
        await nodeA.transport.shutdown()
        await nodeB.transport.shutdown()
        let all = await lines.lines.joined(separator: "\n")
        #expect(!all.contains(Hex.encode(a.seed)))
        #expect(!all.contains(Hex.encode(b.seed)))
    }
}

/// A set of keys a test can change while a transport consults it, behind a lock.
final class AllowList: Sendable {
    private let keys: NIOLockedValueBox<Set<Ed25519PublicKey>>

    init(_ keys: [Ed25519PublicKey]) { self.keys = NIOLockedValueBox(Set(keys)) }
    func contains(_ key: Ed25519PublicKey) -> Bool { keys.withLockedValue { $0.contains(key) } }
    func remove(_ key: Ed25519PublicKey) { _ = keys.withLockedValue { $0.remove(key) } }
}
