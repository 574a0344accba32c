package io.bighorn.dataplane.wire;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Mutual challenge-response on the cluster secret, before any request:
 *
 * <pre>
 * client                                       server
 *   HELLO     nc (32 random bytes)        →
 *                                         ←   CHALLENGE  ns (32 random bytes), HMAC(k, "server" | nc | ns)
 *   (checks the server's proof)
 *   PROOF     HMAC(k, "client" | nc | ns) →
 *                                              (checks the client's proof)
 *                                         ←   READY
 * </pre>
 *
 * k is the cluster secret (HMAC-SHA256); the secret itself never crosses the wire, and fresh nonces on
 * both sides keep a recorded exchange from being replayed. The labels keep one side's proof from being
 * reflected as the other's. A side that finds the other's proof wrong says so (a {@code PROTOCOL} status
 * with a message) and closes; the frame header's magic and version are checked on the first message.
 */
final class Handshake {
    static final int NONCE = 32;
    static final int MAC = 32;
    private static final SecureRandom RANDOM = new SecureRandom();

    private Handshake() {}

    /** The client's half; returns when the server has accepted us, throws when either side refuses. */
    static void client(SocketChannel ch, ClusterSecret secret, String address) throws IOException {
        byte[] nc = nonce();
        send(ch, Op.HELLO, Status.OK, nc);
        Frame f = expect(ch, Op.CHALLENGE, NONCE + MAC, address);
        ByteBuffer body = readPayload(ch, f);
        byte[] ns = new byte[NONCE];
        byte[] serverProof = new byte[MAC];
        body.get(ns).get(serverProof);
        if (!MessageDigest.isEqual(serverProof, mac(secret, "server", nc, ns))) {
            send(ch, Op.PROOF, Status.PROTOCOL, utf8("the server's proof is wrong: cluster secrets differ"));
            throw new ProtocolException("authentication with replica " + address
                    + " failed: it does not hold this cluster's secret (check --secret-file / BIGHORN_SECRET)");
        }
        send(ch, Op.PROOF, Status.OK, mac(secret, "client", nc, ns));
        expect(ch, Op.READY, 0, address);
    }

    /** The server's half; returns when the client is authenticated, throws (after telling it why) if not. */
    static void server(SocketChannel ch, ClusterSecret secret, String peer) throws IOException {
        Frame hello = expect(ch, Op.HELLO, NONCE, peer);
        byte[] nc = new byte[NONCE];
        readPayload(ch, hello).get(nc);
        byte[] ns = nonce();
        byte[] challenge = new byte[NONCE + MAC];
        ByteBuffer.wrap(challenge).put(ns).put(mac(secret, "server", nc, ns));
        send(ch, Op.CHALLENGE, Status.OK, challenge);
        Frame proof = Frame.read(ch, ByteBuffer.allocate(Frame.HEADER));
        if (proof.op() != Op.PROOF) {
            throw refuse(ch, "expected PROOF, got " + proof.op());
        }
        if (proof.status() != Status.OK) {
            throw new ProtocolException("client " + peer + " refused this server: cluster secrets differ");
        }
        if (proof.payloadLength() != MAC) {
            throw refuse(ch, "PROOF of " + proof.payloadLength() + " bytes, expected " + MAC);
        }
        byte[] clientProof = new byte[MAC];
        readPayload(ch, proof).get(clientProof);
        if (!MessageDigest.isEqual(clientProof, mac(secret, "client", nc, ns))) {
            refuse(ch, "authentication failed: the client does not hold this cluster's secret");
            throw new ProtocolException("client " + peer + " failed authentication: wrong cluster secret");
        }
        send(ch, Op.READY, Status.OK, new byte[0]);
    }

    /** Reads the next frame, which must be {@code op} with {@code payload} bytes; a GOODBYE is the peer's error. */
    private static Frame expect(SocketChannel ch, Op op, int payload, String peer) throws IOException {
        Frame f = Frame.read(ch, ByteBuffer.allocate(Frame.HEADER));
        if (f.op() == Op.GOODBYE || f.status() != Status.OK) {
            throw new ProtocolException(
                    peer + " refused the connection: " + StandardCharsets.UTF_8.decode(readPayload(ch, f)));
        }
        if (f.op() != op || f.payloadLength() != payload) {
            throw refuse(
                    ch, "expected " + op + " with " + payload + " bytes, got " + f.op() + " with " + f.payloadLength());
        }
        return f;
    }

    /** Tells the peer why we drop it and returns the exception for our side. */
    static ProtocolException refuse(SocketChannel ch, String why) {
        try {
            send(ch, Op.GOODBYE, Status.PROTOCOL, utf8(why));
        } catch (IOException | RuntimeException e) {
            // the peer may be gone already; our side still reports why
        }
        return new ProtocolException(why);
    }

    private static ByteBuffer readPayload(SocketChannel ch, Frame f) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(Math.min(f.payloadLength(), 4096));
        if (f.payloadLength() > buf.capacity()) {
            throw new ProtocolException("handshake message of " + f.payloadLength() + " bytes");
        }
        Frame.readFully(ch, buf);
        return buf.flip();
    }

    private static void send(SocketChannel ch, Op op, Status status, byte[] payload) throws IOException {
        Frame f = new Frame(op, status, 0, 0, 0, 0, payload.length);
        Frame.writeFully(ch, f.encode(), ByteBuffer.wrap(payload));
    }

    private static byte[] nonce() {
        byte[] n = new byte[NONCE];
        RANDOM.nextBytes(n);
        return n;
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static byte[] mac(ClusterSecret secret, String label, byte[] nc, byte[] ns) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret.key(), "HmacSHA256"));
            mac.update(utf8("bighorn-wire-v1 " + label));
            mac.update(nc);
            mac.update(ns);
            return mac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
    }
}
