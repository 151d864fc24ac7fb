/// `global_defs`, `vrrp_script` and `vrrp_sync_group`, and the command
/// lines of scripts (keepalived.conf(5), "Quoted strings").
extension KeepalivedConverter {
    func readGlobals(_ block: KeepalivedStatement) {
        for statement in block.block ?? [] {
            switch statement.keyword {
            case "vrrp_rt_priority":
                if let value = integer(statement, 1...99, owner: nil) { realtimePriority = (value, statement.line) }
            case "vrrp_no_swap":
                lockMemory = statement.line
            case "vrrp_version":
                if let value = integer(statement, 2...3, owner: nil) { globalVersion = (value, statement.line) }
            default:
                if let why = KeepalivedKeywords.ignoredGlobals[statement.keyword] {
                    notes.append("\(statement.keyword) (line \(statement.line)): ignored: \(why)")
                } else {
                    refuse(statement, KeepalivedKeywords.globalRefusal(statement.keyword))
                }
            }
        }
    }

    func readScript(_ block: KeepalivedStatement) {
        guard let name = block.arguments.first, block.arguments.count == 1, let body = block.block else {
            refuse(block, "expected vrrp_script NAME { ... }")
            return
        }
        var script = ScriptDraft(name: name, line: block.line)
        let owner = "check:\(name)"
        if !ConfigParser.validID(name) {
            refuse(block, "\"\(name)\" is not a vipd check name (1-64 letters, digits, '.', '_' or '-')", owner: owner)
            script.refused = true
        }
        var scriptLine: KeepalivedStatement?
        for statement in body {
            switch statement.keyword {
            case "script":
                scriptLine = statement
                script.argv = command(statement, owner: owner)
            case "interval":
                if let span = seconds(statement, .milliseconds(10)...Span.seconds(3600), owner: owner) { script.interval = span }
            case "timeout":
                script.timeout = seconds(statement, .milliseconds(1)...Span.seconds(3600), owner: owner)
            case "rise":
                if let value = integer(statement, 1...100, owner: owner) { script.rise = value }
            case "fall":
                if let value = integer(statement, 1...100, owner: owner) { script.fall = value }
            case "weight":
                guard let value = statement.arguments.first.flatMap({ Int($0) }), (-253...253).contains(value) else {
                    refuse(statement, "expected an integer in -253...253", owner: owner)
                    continue
                }
                if statement.arguments.count > 1 {
                    refuse(statement, "reverse: no equivalent (a weight check adds its weight when it fails if negative, when it passes if positive)",
                           owner: owner)
                    script.refused = true
                }
                script.weight = value
            case "user":
                refuse(statement, KeepalivedKeywords.ignoredGlobals["script_user"]!, owner: owner)
            case "init_fail":
                refuse(statement, "no equivalent: a vipd check is decided by its first result", owner: owner)
            default:
                refuse(statement, KeepalivedKeywords.noEquivalent, owner: owner)
            }
        }
        if let timeout = script.timeout, timeout > script.interval, let line = body.first(where: { $0.keyword == "timeout" }) {
            refuse(line, "vipd starts one probe per interval: the timeout must not exceed the interval (\(script.interval)); left out, so it is the interval",
                   owner: owner)
            script.timeout = nil
        }
        if scriptLine == nil {
            refuse(block, "has no script line", owner: owner)
        }
        if script.argv == nil { script.refused = true }
        if scripts.contains(where: { $0.name == name }) {
            refuse(block, "vrrp_script \(name) is defined twice; the first is kept", owner: owner)
            return
        }
        scripts.append(script)
    }

    func readGroup(_ block: KeepalivedStatement) {
        guard let name = block.arguments.first, block.arguments.count == 1, let body = block.block else {
            refuse(block, "expected vrrp_sync_group NAME { group { ... } }")
            return
        }
        var group = GroupDraft(name: name, line: block.line)
        if !ConfigParser.validID(name) {
            refuse(block, "\"\(name)\" is not a vipd sync group name (1-64 letters, digits, '.', '_' or '-')")
            group.refused = true
        }
        for statement in body {
            if statement.keyword == "group" {
                for item in statement.block ?? [] {
                    group.members += item.words.map { ($0, item.line) }
                }
            } else if let reason = KeepalivedKeywords.groupRefusals[statement.keyword] {
                refuse(statement, reason, owner: group.owner)
            } else {
                refuse(statement, "not a sync group keyword (members go inside group { })", owner: group.owner)
            }
        }
        groups.append(group)
    }

    /// The argv of a script or notify line: its first argument split on
    /// spaces outside quotes, the program found as keepalived finds it. A
    /// user and group after it are refused (vipd runs scripts as its user).
    func command(_ statement: KeepalivedStatement, owner: String?) -> [String]? {
        guard let text = statement.arguments.first else {
            refuse(statement, "names no command", owner: owner)
            return nil
        }
        if statement.arguments.count > 1 {
            refuse(statement, "user \(statement.arguments.dropFirst().joined(separator: " ")): \(KeepalivedKeywords.ignoredGlobals["script_user"]!)",
                   owner: owner)
        }
        var argv = Self.splitArguments(text)
        guard let program = argv.first else {
            refuse(statement, "names no command", owner: owner)
            return nil
        }
        if !program.hasPrefix("/") {
            guard let path = options.findProgram(program) else {
                refuse(statement, "\(program): not found on keepalived's PATH (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin); vipd runs commands without a shell and needs the program's absolute path",
                       owner: owner)
                return nil
            }
            argv[0] = path
        }
        return argv
    }

    /// keepalived's script words: spaces separate them except inside single
    /// or double quotes, which are removed.
    static func splitArguments(_ text: String) -> [String] {
        var words: [String] = []
        var word = ""
        var inWord = false
        var quote: Character?
        for character in text {
            if let open = quote {
                if character == open { quote = nil } else { word.append(character) }
            } else if character == "'" || character == "\"" {
                quote = character
                inWord = true
            } else if character == " " || character == "\t" {
                if inWord { words.append(word) }
                word = ""
                inWord = false
            } else {
                word.append(character)
                inWord = true
            }
        }
        if inWord { words.append(word) }
        return words
    }
}
