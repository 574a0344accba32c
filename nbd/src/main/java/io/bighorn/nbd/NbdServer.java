package io.bighorn.nbd;

import io.bighorn.common.BufferPool;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An NBD server (fixed newstyle handshake, structured replies, {@code base:allocation}) serving
 * {@link Exports} over TCP. Each connection runs on its own platform thread, reads and writes complete
 * asynchronously; see {@code Connection} for the concurrency and error rules.
 *
 * <pre>{@code
 * try (NbdServer server = NbdServer.start("127.0.0.1", 0, Exports.of(new Export("vol0", "", device)))) {
 *     int port = server.port();     // qemu-img ... nbd://127.0.0.1:PORT/vol0
 * }
 * }</pre>
 */
public final class NbdServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(NbdServer.class);

    private final ServerSocketChannel listener;
    private final Exports exports;
    private final Thread acceptor;
    private final Map<Connection, Thread> connections = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> clients = new ConcurrentHashMap<>();
    private final AtomicLong unexpected = new AtomicLong();
    private final AtomicLong replyStalls = new AtomicLong();
    private final BufferPool buffers = new BufferPool(32L << 20);
    private volatile boolean closing;

    private NbdServer(ServerSocketChannel listener, Exports exports) {
        this.listener = listener;
        this.exports = exports;
        this.acceptor = Thread.ofVirtual().name("nbd-accept").unstarted(this::acceptLoop);
    }

    /** Listens on {@code host:port} (port 0: any free port, see {@link #port()}) and starts serving. */
    public static NbdServer start(String host, int port, Exports exports) throws IOException {
        Objects.requireNonNull(exports, "exports");
        ServerSocketChannel listener = ServerSocketChannel.open();
        try {
            listener.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            listener.bind(new InetSocketAddress(host, port), 128);
        } catch (IOException | RuntimeException e) {
            listener.close();
            throw e;
        }
        NbdServer server = new NbdServer(listener, exports);
        server.acceptor.start();
        LOG.info("NBD server listening on {}", server.address());
        return server;
    }

    /** The address the server is bound to. */
    public InetSocketAddress address() {
        return (InetSocketAddress) listener.socket().getLocalSocketAddress();
    }

    /** The bound port (useful after binding port 0). */
    public int port() {
        return listener.socket().getLocalPort();
    }

    /**
     * Clients in the transmission phase on the export of that name now. An engine refuses a revert while this
     * is nonzero.
     */
    public int clients(String exportName) {
        AtomicInteger n = clients.get(exportName);
        return n == null ? 0 : n.get();
    }

    /**
     * Stops accepting, closes every connection and waits for their requests in flight to finish. The exports'
     * devices stay open.
     */
    @Override
    public void close() {
        if (closing) {
            return;
        }
        closing = true;
        try {
            listener.close();
        } catch (IOException e) {
            LOG.debug("closing the NBD listener: {}", e.toString());
        }
        io.bighorn.common.Threads.joinUninterruptibly(acceptor);
        for (Connection c : connections.keySet()) {
            c.abort();
        }
        for (Thread t : connections.values()) {
            io.bighorn.common.Threads.joinUninterruptibly(t);
        }
        LOG.info("NBD server on {} closed", address());
    }

    private void acceptLoop() {
        while (!closing) {
            SocketChannel socket;
            try {
                socket = listener.accept();
            } catch (IOException e) {
                if (!closing) {
                    LOG.warn("NBD server on {}: accept failed, no longer accepting: {}", address(), e.toString());
                }
                return;
            }
            Connection c = new Connection(socket, exports, this);
            // A platform thread: it waits in the kernel for requests itself, without a poller's hand-over.
            Thread t = Thread.ofPlatform().name("nbd-" + c.peer()).daemon().unstarted(() -> {
                try {
                    c.run();
                } finally {
                    connections.remove(c);
                }
            });
            connections.put(c, t);
            try {
                t.start();
            } catch (OutOfMemoryError e) { // the OS refused another thread: refuse this client, keep serving
                LOG.warn("NBD server on {}: cannot serve {}: {}", address(), c.peer(), e.toString());
                connections.remove(c);
                c.abort();
            }
        }
    }

    boolean isClosing() {
        return closing;
    }

    void attached(String exportName) {
        clients.computeIfAbsent(exportName, k -> new AtomicInteger()).incrementAndGet();
    }

    void detached(String exportName) {
        clients.get(exportName).decrementAndGet();
    }

    /** Request buffers, shared by all connections. */
    BufferPool buffers() {
        return buffers;
    }

    /** Counts an exception a client should never be able to cause (the fuzz tests assert none). */
    void unexpected(RuntimeException e) {
        unexpected.incrementAndGet();
    }

    /** A connection's replies filled its socket (the client reads slower than the server answers). */
    void replyStalled() {
        replyStalls.incrementAndGet();
    }

    long replyStalls() {
        return replyStalls.get();
    }

    long unexpectedErrors() {
        return unexpected.get();
    }
}
