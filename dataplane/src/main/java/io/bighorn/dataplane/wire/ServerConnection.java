package io.bighorn.dataplane.wire;

import io.bighorn.common.BufferPool;
import io.bighorn.dataplane.wire.RequestHandler.Request;
import java.io.EOFException;
import java.io.IOException;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection of a {@link ReplicaServer}: the handshake, then its requests.
 *
 * <p><b>Threads.</b> The connection's reader is a platform thread making blocking reads on the socket, so
 * no virtual-thread poller stands between the kernel and it; it runs the handshake too. Each read fills a large input buffer, and
 * the reader takes every complete frame out of it ({@link FrameReader}). A request that is a page-cache
 * operation ({@link RequestHandler#inline}: reads and writes up to {@value RequestHandler#INLINE_MAX}
 * bytes, trims, zeroing) runs on the reader itself, and its reply joins a batch. Any other request (a
 * flush, which syncs to disk, a control operation, a large transfer) gets its own virtual thread, so that
 * a slow fsync never holds up the small requests behind it. The server's test hook runs before every
 * request, on whichever thread runs it.
 *
 * <p><b>Replies</b> go out through a {@link ReplyWriter}. The reader sends its batch with one gathering
 * write right before it would block on the socket, that is when its input holds no further complete
 * frame, or earlier once the batch is large. A burst of small pipelined requests thus costs one read and
 * one write and no thread switch. Request threads never touch the socket: they queue their reply for the
 * writer's own platform thread, or for whichever thread is writing at that moment (see there for why, and
 * for how no reply is left behind). Replies overtake each other freely; each carries its request's id.
 *
 * <p><b>Back-pressure.</b> At most {@link ReplicaServer#MAX_IN_FLIGHT} requests of a connection are read
 * and not yet answered: the reader takes a permit before each frame, and the permit comes back once the
 * reply has been written. At the limit the reader sends its own batch (whose replies hold permits too)
 * and stops reading until a permit comes back, and TCP pushes back on the client. Request and reply
 * buffers are held under those permits, so a client that sends without reading its replies cannot make
 * the server allocate without bound.
 *
 * <p><b>Ending.</b> End of stream, a broken frame (answered with a GOODBYE after the replies batched so
 * far), a failed reply write, or {@link #close} ends the connection. The socket is closed first, so the
 * requests still running fail to send their replies; then the reader waits for them and stops the writer
 * thread, and {@link #awaitRequests} waits for the reader.
 */
final class ServerConnection implements Runnable {
    static final Duration HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);
    private static final Logger log = LoggerFactory.getLogger(ServerConnection.class);

    private final ReplicaServer server;
    private final SocketChannel ch;
    private final String peer;
    private final Thread reader;
    private final Semaphore inFlight = new Semaphore(ReplicaServer.MAX_IN_FLIGHT);
    private final ExecutorService requests = Executors.newVirtualThreadPerTaskExecutor();
    private final RequestHandler handler;
    private final ReplyWriter replies;
    private volatile boolean authenticated;

    ServerConnection(ReplicaServer server, SocketChannel ch) throws IOException {
        this.server = server;
        this.ch = ch;
        SocketAddress remote = ch.getRemoteAddress();
        this.peer = String.valueOf(remote).replaceFirst("^/", "");
        this.reader = Thread.ofPlatform()
                .name("bighorn-replica-conn-" + peer)
                .daemon()
                .unstarted(this);
        this.handler = new RequestHandler(server);
        this.replies =
                new ReplyWriter(ch, inFlight, server.socketWrites, this::replyFailed, "bighorn-replica-reply-" + peer);
    }

    String peer() {
        return peer;
    }

    /** Starts the connection's reader thread. */
    void start() {
        reader.start();
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
            replies.goodbye(e.getMessage());
            drain();
        } catch (IOException e) {
            log.warn("{}: connection from {} failed: {}", server.url(), peer, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            close();
            requests.close(); // waits for the requests running: their replies are dropped
            try {
                replies.shutdown();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            server.done(this);
        }
    }

    private void serve() throws IOException, InterruptedException {
        FrameReader input = new FrameReader(ch, replies::flush, server.socketReads);
        replies.start();
        while (true) {
            if (!ch.isOpen()) { // closed, or a reply failed: run none of the frames still buffered
                throw new ClosedChannelException();
            }
            if (!inFlight.tryAcquire()) {
                replies.flush(); // our own batched replies hold permits until they are written
                inFlight.acquire(); // back-pressure: at the limit, stop reading until a reply is out
            }
            Request r = read(input);
            if (RequestHandler.inline(r.frame())) {
                replies.add(handler.handle(r));
                continue;
            }
            try {
                requests.execute(() -> replies.send(handler.handle(r)));
            } catch (RejectedExecutionException e) {
                r.release(); // the server is closing
                inFlight.release();
                return;
            }
        }
    }

    /** The next request: its header checked, its payload read. */
    private Request read(FrameReader input) throws IOException {
        Frame f = input.next();
        if (f.op().handshake() || f.op() == Op.GOODBYE || f.status() != Status.OK) {
            throw new ProtocolException("unexpected " + f.op() + " (status " + f.status() + ") after the handshake");
        }
        if (f.op() == Op.WRITE && f.payloadLength() != f.length()) {
            throw new ProtocolException(
                    "WRITE of " + f.length() + " bytes carries " + f.payloadLength() + " bytes of data");
        }
        if (f.op() != Op.WRITE && f.op().compareTo(Op.INFO) < 0 && f.payloadLength() != 0) {
            throw new ProtocolException(f.op() + " carries " + f.payloadLength() + " bytes of payload");
        }
        if (f.op() == Op.WRITE) {
            BufferPool.Lease data = server.buffers.acquire(f.payloadLength());
            try {
                input.payload(data.segment().asByteBuffer());
            } catch (IOException | RuntimeException e) {
                data.close();
                throw e;
            }
            return new Request(f, data, null);
        }
        byte[] json = null;
        if (f.payloadLength() > 0) {
            json = new byte[f.payloadLength()];
            input.payload(ByteBuffer.wrap(json));
        }
        return new Request(f, null, json);
    }

    private void replyFailed(Exception e) {
        log.debug("{}: reply to {} failed: {}", server.url(), peer, e.toString());
        close(); // the reader sees the closed channel and ends the connection
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

    /** Waits until the connection's requests and threads have finished (close it first). */
    void awaitRequests() {
        requests.close();
        try {
            reader.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
