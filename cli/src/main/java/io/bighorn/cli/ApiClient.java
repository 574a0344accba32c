package io.bighorn.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import picocli.CommandLine.Option;

/** The manager's REST API as the CLI uses it: JSON in and out, an API error turned into its message. */
final class ApiClient {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final URI base;
    private final String token;
    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    ApiClient(URI base, String token) {
        this.base = base;
        this.token = token;
    }

    /** Where the API is and how to authenticate: shared by every API command. */
    static final class Options {
        @Option(
                names = "--server",
                description = "the manager's API (default: $BIGHORN_SERVER or http://127.0.0.1:9500)")
        String server;

        @Option(
                names = "--token-file",
                description = "file holding the API token, needed off loopback (default: $BIGHORN_TOKEN)")
        Path tokenFile;

        @Option(names = "--json", description = "print the API's JSON instead of a table")
        boolean json;

        ApiClient client() throws IOException {
            String url =
                    server != null ? server : System.getenv().getOrDefault("BIGHORN_SERVER", "http://127.0.0.1:9500");
            String token = tokenFile != null
                    ? Files.readString(tokenFile).strip()
                    : System.getenv().getOrDefault("BIGHORN_TOKEN", "");
            return new ApiClient(URI.create(url.replaceAll("/+$", "")), token);
        }
    }

    JsonNode get(String path) throws IOException {
        return send("GET", path, null);
    }

    JsonNode post(String path, Map<String, ?> body) throws IOException {
        return send("POST", path, body);
    }

    JsonNode put(String path, Map<String, ?> body) throws IOException {
        return send("PUT", path, body);
    }

    JsonNode delete(String path) throws IOException {
        return send("DELETE", path, null);
    }

    private JsonNode send(String method, String path, Map<String, ?> body) throws IOException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path))
                .timeout(Duration.ofSeconds(60))
                .header("Accept", "application/json");
        if (!token.isEmpty()) {
            b.header("Authorization", "Bearer " + token);
        }
        if (body != null) {
            b.header("Content-Type", "application/json");
            b.method(method, HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(body)));
        } else {
            b.method(method, HttpRequest.BodyPublishers.noBody());
        }
        HttpResponse<String> response;
        try {
            response = http.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (ConnectException e) {
            throw new IOException("cannot reach the Bighorn API at " + base + " (is `bighorn server` running?"
                    + " --server or BIGHORN_SERVER say where it is)");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        JsonNode json = response.body().isEmpty() ? JSON.createObjectNode() : parse(response.body());
        if (response.statusCode() >= 400) {
            String message = json.path("message").asText(response.body());
            throw new ApiError(
                    response.statusCode(),
                    message + " (" + json.path("code").asText("HTTP " + response.statusCode()) + ")");
        }
        return json;
    }

    private static JsonNode parse(String body) throws IOException {
        try {
            return JSON.readTree(body);
        } catch (IOException e) {
            throw new IOException("the API answered something that is not JSON: "
                    + body.lines().findFirst().orElse(""));
        }
    }

    /** The API's answer to a refused call: its HTTP status, and its message as the exception's. */
    static final class ApiError extends IOException {
        private final int status;

        ApiError(int status, String message) {
            super(message);
            this.status = status;
        }

        int status() {
            return status;
        }
    }

    static String pretty(JsonNode node) throws IOException {
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(node);
    }
}
