package io.bighorn.dataplane.wire;

import io.bighorn.dataplane.replica.Replica;
import java.io.EOFException;
import java.io.IOException;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection of a {@link ReplicaServer}: the handshake, then a reader that hands each request
 * to its own virtual thread. Replies go out one at a time under {@link #sendLock}.
 */
final class ServerConnection implements Runnable {
    static final Duration HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);
    private static final Logger log = LoggerFactory.getLogger(ServerConnection.class);

    private final ReplicaServer server;
    private final Replica replica;
    private final SocketChannel ch;
    private final String peer;
    private final Semaphore inFlight = new Semaphore(ReplicaServer.MAX_IN_FLIGHT);
    private final ExecutorService requests = Executors.newVirtualThreadPerTaskExecutor();
    private final ReentrantLock sendLock = new ReentrantLock();
    private final ByteBuffer sendHeader = ByteBuffer.allocateDirect(Frame.HEADER);
    private volatile boolean authenticated;

    ServerConnection(ReplicaServer server, SocketChannel ch) throws IOException {
        this.server = server;
        this.replica = server.replica();
        this.ch = ch;
        SocketAddress remote = ch.getRemoteAddress();
        this.peer = String.valueOf(remote).replaceFirst("^/", "");
    }

    String peer() {
        return peer;
    }

    @Override
    public void run() {
        try {
            CompletableFuture.delayedExecutor(HANDSHAKE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
                    .execute(() -> {
                        if (!authenticated) {
                            close();
                        }
                    });
            try {
                Handshake.server(ch, server.secret(), peer);
            } catch (IOException e) {
                server.refused.incrementAndGet();
                if (ch.isOpen()) {
                    log.warn("{}: refused {}: {}", server.url(), peer, e.getMessage());
                    drain();
                } else {
                    log.warn("{}: refused {}: no handshake within {}", server.url(), peer, HANDSHAKE_TIMEOUT);
                }
                return;
            }
            authenticated = true;
            log.debug("{}: {} connected", server.url(), peer);
            serve();
        } catch (EOFException | ClosedChannelException e) {
            log.debug("{}: {} disconnected", server.url(), peer);
        } catch (ProtocolException e) {
            log.warn("{}: dropping {}: {}", server.url(), peer, e.getMessage());
            sendLock.lock();
            try {
                Handshake.refuse(ch, e.getMessage());
            } finally {
                sendLock.unlock();
            }
            drain();
        } catch (IOException e) {
            log.warn("{}: connection from {} failed: {}", server.url(), peer, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            close();
            awaitRequests();
            server.done(this);
        }
    }

    private void serve() throws IOException, InterruptedException {
        ByteBuffer header = ByteBuffer.allocateDirect(Frame.HEADER);
        while (true) {
            inFlight.acquire(); // back-pressure: at the limit, stop reading until a request is done
            Frame f = Frame.read(ch, header);
            if (f.op().handshake() || f.op() == Op.GOODBYE || f.status() != Status.OK) {
                throw new ProtocolException(
                        "unexpected " + f.op() + " (status " + f.status() + ") after the handshake");
            }
            if (f.op() == Op.WRITE && f.payloadLength() != f.length()) {
                throw new ProtocolException(
                        "WRITE of " + f.length() + " bytes carries " + f.payloadLength() + " bytes of data");
            }
            if (f.op() != Op.WRITE && f.op().compareTo(Op.INFO) < 0 && f.payloadLength() != 0) {
                throw new ProtocolException(f.op() + " carries " + f.payloadLength() + " bytes of payload");
            }
            Request r = new Request(f);
            try {
                if (f.op() == Op.WRITE) {
                    r.data = server.buffers.acquire(f.payloadLength());
                    Frame.readFully(ch, r.data.segment().asByteBuffer());
                } else if (f.payloadLength() > 0) {
                    r.json = new byte[f.payloadLength()];
                    Frame.readFully(ch, ByteBuffer.wrap(r.json));
                }
            } catch (IOException | RuntimeException e) {
                r.release();
                throw e;
            }
            try {
                requests.execute(() -> handle(r));
            } catch (RejectedExecutionException e) {
                r.release(); // the server is closing
                return;
            }
        }
    }

    /** A request being served, and the buffers it holds. */
    private static final class Request {
        final Frame frame;
        BufferPool.Lease data;
        byte[] json;

        Request(Frame frame) {
            this.frame = frame;
        }

        void release() {
            if (data != null) {
                data.close();
                data = null;
            }
        }
    }

    private void handle(Request r) {
        Frame f = r.frame;
        try {
            Frame reply;
            ByteBuffer payload;
            try {
                server.hook.before(f);
                payload = execute(r);
                reply = f.reply(Status.OK, 0, payload == null ? 0 : payload.remaining());
            } catch (Exception e) {
                Status status = Status.of(e);
                if (status == Status.IO) {
                    log.warn("{}: {} failed: {}", server.url(), f.op(), e.toString());
                }
                String message = e.getMessage() == null ? e.toString() : e.getMessage();
                payload = ByteBuffer.wrap(message.getBytes(StandardCharsets.UTF_8));
                reply = f.reply(status, replica.epoch(), payload.remaining());
            }
            send(reply, payload);
        } finally {
            r.release();
            inFlight.release();
        }
    }

    /** Runs one request on the replica; returns the reply's payload (null for none). */
    private ByteBuffer execute(Request r) throws Exception {
        Frame f = r.frame;
        return switch (f.op()) {
            case READ -> {
                if (f.length() < 0 || f.length() > Frame.MAX_PAYLOAD) {
                    throw new IllegalArgumentException(
                            "READ of " + f.length() + " bytes: at most " + Frame.MAX_PAYLOAD + " per request");
                }
                r.data = server.buffers.acquire(f.length());
                replica.read(f.offset(), r.data.segment());
                yield r.data.segment().asByteBuffer();
            }
            case WRITE -> {
                replica.write(f.epoch(), f.offset(), r.data.segment());
                yield null;
            }
            case TRIM -> {
                replica.trim(f.epoch(), f.offset(), f.length());
                yield null;
            }
            case WRITE_ZEROES -> {
                replica.writeZeroes(f.epoch(), f.offset(), f.length());
                yield null;
            }
            case FLUSH -> {
                replica.flush();
                yield null;
            }
            case EXTENTS -> json(replica.extents(f.offset(), f.length()));
            case INFO -> json(replica.info());
            case ACCEPT_EPOCH -> {
                replica.acceptEpoch(f.epoch());
                yield null;
            }
            case SNAPSHOT -> {
                Json.SnapshotRequest s = Json.read(r.json, Json.SnapshotRequest.class);
                yield json(replica.snapshot(s.name(), s.userCreated(), s.labels(), s.created()));
            }
            case SNAPSHOTS -> json(replica.snapshots());
            case DELETE_SNAPSHOT -> {
                replica.deleteSnapshot(Json.read(r.json, Json.Name.class).name());
                yield null;
            }
            case PURGE -> json(replica.purge());
            case REVERT -> {
                replica.revert(Json.read(r.json, Json.Name.class).name());
                yield null;
            }
            case EXPAND -> {
                replica.expand(f.length());
                yield null;
            }
            case HELLO, CHALLENGE, PROOF, READY, GOODBYE -> throw new IllegalStateException("not a request: " + f.op());
        };
    }

    private static ByteBuffer json(Object value) throws IOException {
        byte[] bytes = Json.write(value);
        if (bytes.length > Frame.MAX_PAYLOAD) {
            throw new IOException("reply of " + bytes.length + " bytes exceeds " + Frame.MAX_PAYLOAD);
        }
        return ByteBuffer.wrap(bytes);
    }

    private void send(Frame reply, ByteBuffer payload) {
        sendLock.lock();
        try {
            sendHeader.clear();
            reply.encode(sendHeader);
            sendHeader.flip();
            if (payload == null) {
                Frame.writeFully(ch, sendHeader);
            } else {
                Frame.writeFully(ch, sendHeader, payload);
            }
        } catch (IOException e) {
            log.debug("{}: reply to {} failed: {}", server.url(), peer, e.toString());
            close(); // the reader sees the closed channel and ends the connection
        } finally {
            sendLock.unlock();
        }
    }

    /**
     * After a GOODBYE: ends our side and discards what the peer still sends for a moment, so that closing
     * with unread input does not reset the connection before the peer has read why it was dropped.
     */
    private void drain() {
        CompletableFuture.delayedExecutor(1, TimeUnit.SECONDS).execute(this::close);
        try {
            ch.shutdownOutput();
            ByteBuffer discard = ByteBuffer.allocate(64 << 10);
            long left = 16L << 20;
            int n;
            while (left > 0 && (n = ch.read(discard.clear())) >= 0) {
                left -= n;
            }
        } catch (IOException e) {
            // closed by the timer or by the peer: either way we are done
        }
    }

    void close() {
        ReplicaServer.closeQuietly(ch);
    }

    /** Waits for the requests still running (their replies fail on the closed channel). */
    void awaitRequests() {
        requests.close();
    }
}
