package io.bighorn.manager.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import io.bighorn.manager.store.Json;
import java.io.IOException;
import java.io.InputStream;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** One API request: method, path segments after {@code /v1}, query and the JSON body (an object). */
public record Request(String method, List<String> path, Map<String, String> query, JsonNode body) {
    private static final int MAX_BODY = 1 << 20;

    static Request parse(String method, String rawPath, String rawQuery, InputStream in) throws IOException {
        List<String> segments = java.util.regex.Pattern.compile("/+")
                .splitAsStream(rawPath.replaceAll("^/+|/+$", ""))
                .map(s -> URLDecoder.decode(s, StandardCharsets.UTF_8))
                .toList();
        Map<String, String> query = new HashMap<>();
        if (rawQuery != null) {
            for (String kv : rawQuery.split("&")) {
                int eq = kv.indexOf('=');
                String k = URLDecoder.decode(eq < 0 ? kv : kv.substring(0, eq), StandardCharsets.UTF_8);
                String v = eq < 0 ? "" : URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8);
                query.put(k, v);
            }
        }
        byte[] bytes = in.readNBytes(MAX_BODY + 1);
        if (bytes.length > MAX_BODY) {
            throw ApiException.badRequest("request body over 1 MiB");
        }
        JsonNode body = JsonNodeFactory.instance.objectNode();
        if (bytes.length > 0) {
            try {
                body = Json.MAPPER.readTree(bytes);
            } catch (IOException e) {
                throw ApiException.badRequest("request body is not JSON: " + e.getMessage());
            }
            if (body == null || !body.isObject()) {
                throw ApiException.badRequest("request body must be a JSON object");
            }
        }
        return new Request(method, segments, query, body);
    }

    String segment(int i) {
        return i < path.size() ? path.get(i) : null;
    }

    /** A string field of the body, or null when absent. */
    String text(String field) {
        JsonNode n = body.get(field);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isValueNode()) {
            throw ApiException.badRequest("field '" + field + "' must be a string");
        }
        return n.asText();
    }

    String requireText(String field) {
        String s = text(field);
        if (s == null || s.isBlank()) {
            throw ApiException.badRequest("field '" + field + "' is required");
        }
        return s;
    }
}
