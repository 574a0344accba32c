package io.bighorn.agent;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells the manager, every interval, that this node is alive and where its servers are. A failure is
 * logged once per change (reachable to not, and back), never fatal: the manager may be restarting.
 */
final class Heartbeat implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Heartbeat.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Agent agent;
    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "heartbeat");
        t.setDaemon(true);
        return t;
    });
    private final URI target;
    private final String token;
    private volatile boolean failing;

    private Heartbeat(Agent agent) {
        this.agent = agent;
        this.target = URI.create(agent.config.manager().toString().replaceAll("/+$", "") + "/v1/internal/heartbeat");
        this.token = AgentAuth.token(agent.config.secret());
    }

    static Heartbeat start(Agent agent) {
        Heartbeat h = new Heartbeat(agent);
        var _ = h.timer.scheduleWithFixedDelay(
                h::beat, 0, agent.config.heartbeatInterval().toMillis(), TimeUnit.MILLISECONDS);
        return h;
    }

    private void beat() {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("node", agent.name());
        body.put(
                "address",
                agent.config.advertiseHost() + ":" + agent.grpcAddress().getPort());
        body.put(
                "nbdAddress",
                agent.config.advertiseHost() + ":" + agent.nbdAddress().getPort());
        body.put("zone", agent.config.zone());
        body.put("tags", agent.config.tags());
        try {
            HttpRequest request = HttpRequest.newBuilder(target)
                    .timeout(Duration.ofSeconds(2))
                    .header("Authorization", "Bearer " + token)
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(body)))
                    .build();
            HttpResponse<String> r = http.send(request, HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() >= 300) {
                throw new java.io.IOException("HTTP " + r.statusCode() + ": " + r.body());
            }
            if (failing) {
                log.info("node {}: the manager at {} answers again", agent.name(), target);
                failing = false;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            if (!failing) {
                log.warn("node {}: heartbeat to {} failed: {}", agent.name(), target, e.toString());
                failing = true;
            }
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
