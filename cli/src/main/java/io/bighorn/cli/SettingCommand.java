package io.bighorn.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code bighorn setting …}: the cluster's settings (Longhorn's names). */
@Command(
        name = "setting",
        description = "List and change settings (Longhorn's names, validated by the manager).",
        subcommands = {SettingCommand.Ls.class, SettingCommand.Set.class})
final class SettingCommand {
    private SettingCommand() {}

    @Command(name = "ls", description = "List settings with their values, defaults and meaning.")
    static final class Ls extends ApiCommand {
        @Override
        public Integer call() throws IOException {
            JsonNode all = api.client().get("/v1/settings");
            if (printedJson(all)) {
                return 0;
            }
            PrintWriter out = out();
            Table t = new Table("NAME", "VALUE", "DEFAULT", "DESCRIPTION");
            for (JsonNode s : all.path("data")) {
                t.row(
                        s.path("name").asText(),
                        s.path("value").asText(),
                        s.path("definition").path("defaultValue").asText(),
                        s.path("definition").path("description").asText());
            }
            t.print(out);
            return 0;
        }
    }

    @Command(name = "set", description = "Set a setting.")
    static final class Set extends ApiCommand {
        @Parameters(index = "0")
        String name;

        @Parameters(index = "1")
        String value;

        @Override
        public Integer call() throws IOException {
            JsonNode s = api.client().put("/v1/settings/" + name, Map.of("value", value));
            PrintWriter out = out();
            out.println(
                    api.json
                            ? ApiClient.pretty(s)
                            : name + " = " + s.path("value").asText());
            out.flush();
            return 0;
        }
    }
}
