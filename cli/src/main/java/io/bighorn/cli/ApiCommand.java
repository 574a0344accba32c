package io.bighorn.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** A command that talks to the manager's API: where it is (--server, --token-file) and --json output. */
abstract class ApiCommand implements Callable<Integer> {
    @Mixin
    ApiClient.Options api;

    @Spec
    CommandSpec spec;

    PrintWriter out() {
        return spec.commandLine().getOut();
    }

    /** Prints the API's JSON with --json, otherwise {@code text}. */
    void print(JsonNode json, String text) throws IOException {
        out().println(api.json ? ApiClient.pretty(json) : text);
        out().flush();
    }

    /** Prints the API's JSON with --json and returns true; false when the caller should print a table. */
    boolean printedJson(JsonNode json) throws IOException {
        if (api.json) {
            print(json, "");
        }
        return api.json;
    }
}
