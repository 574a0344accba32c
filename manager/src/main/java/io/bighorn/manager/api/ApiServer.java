package io.bighorn.manager.api;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.bighorn.manager.store.Json;
import io.bighorn.manager.store.StoreException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The manager's HTTP surface: the REST API under {@code /v1}, the OpenAPI document, {@code /metrics}, and the
 * agents' heartbeat. Every error is JSON {@code {"code","message"}} with its HTTP status. On a loopback
 * address anyone on the machine may call it; on any other address every call but the agents' heartbeat
 * needs the bearer token.
 */
public final class ApiServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ApiServer.class);

    private final HttpServer http;
    private final ExecutorService executor;

    private ApiServer(HttpServer http, ExecutorService executor) {
        this.http = http;
        this.executor = executor;
    }

    /**
     * Starts serving on {@code bind}.
     *
     * @param token the bearer token callers must present when the API is not on loopback
     * @param agentAuth whether an Authorization header is an agent's
     */
    public static ApiServer start(InetSocketAddress bind, String token, Predicate<String> agentAuth, Routes routes)
            throws IOException {
        HttpServer http = HttpServer.create(bind, 64);
        ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
        http.setExecutor(executor);
        boolean open = bind.getAddress().isLoopbackAddress();
        http.createContext("/", exchange -> handle(exchange, open, token, agentAuth, routes));
        http.start();
        return new ApiServer(http, executor);
    }

    public InetSocketAddress address() {
        return http.getAddress();
    }

    public String url() {
        InetSocketAddress a = address();
        String host = a.getAddress().isAnyLocalAddress()
                ? "127.0.0.1"
                : a.getAddress().getHostAddress();
        return "http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
    }

    private static void handle(
            HttpExchange exchange, boolean open, String token, Predicate<String> agentAuth, Routes routes) {
        try (exchange) {
            String path = exchange.getRequestURI().getRawPath();
            String auth = exchange.getRequestHeaders().getFirst("Authorization");
            try {
                if (path.equals("/v1/internal/heartbeat")) {
                    if (!agentAuth.test(auth)) {
                        throw new ApiException(401, "Unauthorized", "not an agent of this cluster");
                    }
                } else if (!open && !bearerMatches(auth, token)) {
                    throw new ApiException(401, "Unauthorized", "this API needs 'Authorization: Bearer <token>'");
                }
                Request request;
                try (InputStream in = exchange.getRequestBody()) {
                    request = Request.parse(
                            exchange.getRequestMethod(),
                            path,
                            exchange.getRequestURI().getRawQuery(),
                            in);
                }
                Response response = routes.handle(request);
                send(exchange, response.status(), response.contentType(), response.body());
            } catch (ApiException e) {
                sendError(exchange, e.status(), e.code(), e.getMessage());
            } catch (StoreException.NotFound e) {
                sendError(exchange, 404, "NotFound", e.getMessage());
            } catch (StoreException.AlreadyExists e) {
                sendError(exchange, 409, "AlreadyExists", e.getMessage());
            } catch (StoreException.Conflict e) {
                sendError(exchange, 409, "Conflict", e.getMessage());
            } catch (IllegalArgumentException e) {
                sendError(exchange, 400, "InvalidArgument", e.getMessage());
            } catch (RuntimeException e) {
                log.warn("{} {} failed", exchange.getRequestMethod(), path, e);
                sendError(exchange, 500, "Internal", String.valueOf(e.getMessage()));
            }
        } catch (IOException | UncheckedIOException e) {
            log.debug("answering a request failed: {}", e.getMessage());
        }
    }

    private static boolean bearerMatches(String header, String token) {
        if (header == null || !header.startsWith("Bearer ")) {
            return false;
        }
        return MessageDigest.isEqual(
                header.substring(7).strip().getBytes(StandardCharsets.UTF_8), token.getBytes(StandardCharsets.UTF_8));
    }

    private static void sendError(HttpExchange exchange, int status, String code, String message) throws IOException {
        ObjectNode body = Json.MAPPER.createObjectNode().put("code", code).put("message", message);
        send(exchange, status, "application/json", Json.MAPPER.writeValueAsBytes(body));
    }

    private static void send(HttpExchange exchange, int status, String contentType, byte[] body) throws IOException {
        exchange.getResponseHeaders().set("Content-Type", contentType);
        if (status == 204) {
            exchange.sendResponseHeaders(204, -1);
            return;
        }
        exchange.sendResponseHeaders(status, body.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
        }
    }

    @Override
    public void close() {
        http.stop(0);
        executor.shutdownNow();
    }

    /** What a route answers (the body is the route's own array, never shared). */
    @SuppressWarnings("ArrayRecordComponent")
    public record Response(int status, String contentType, byte[] body) {
        static Response json(int status, Object value) {
            try {
                return new Response(status, "application/json", Json.MAPPER.writeValueAsBytes(value));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        static Response text(String contentType, String body) {
            return new Response(200, contentType, body.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** The API's routes. */
    public interface Routes {
        Response handle(Request request);
    }
}
