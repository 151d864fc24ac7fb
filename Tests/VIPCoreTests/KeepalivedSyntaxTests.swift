import Testing
@testable import VIPCore

/// keepalived.conf read as keepalived reads it: words, blocks, comments,
/// quotes, conditional lines, parameters; include refused.
@Suite struct KeepalivedSyntaxTests {
    func parse(_ text: String, configID: String = "node-a") throws(KeepalivedSyntaxError)
        -> (statements: [KeepalivedStatement], refusals: [KeepalivedRefusal]) {
        try KeepalivedSyntax.parse(text, file: "k.conf", configID: configID, directory: "/etc/keepalived")
    }

    @Test func blocksCarryTheirLines() throws {
        let (statements, refusals) = try parse("""
            ! Configuration File for keepalived
            vrrp_instance VI_1 {
                state MASTER   # initial
                virtual_ipaddress {
                    198.18.0.100/24 dev eth0 label eth0:vip
                }
            }
            """)
        #expect(refusals.isEmpty)
        #expect(statements.count == 1)
        let instance = statements[0]
        #expect(instance.words == ["vrrp_instance", "VI_1"])
        #expect((instance.line, instance.endLine) == (2, 7))
        #expect(instance.block?[0] == KeepalivedStatement(keyword: "state", arguments: ["MASTER"], line: 3))
        let vips = try #require(instance.block?[1])
        #expect((vips.keyword, vips.line, vips.endLine) == ("virtual_ipaddress", 4, 6))
        #expect(vips.block?[0].words == ["198.18.0.100/24", "dev", "eth0", "label", "eth0:vip"])
    }

    @Test func bracesOnOneLineAndOnTheNext() throws {
        let (statements, _) = try parse("""
            unicast_peer { 198.18.0.2 198.18.0.3 }
            vrrp_sync_group G1
            {
                group { VI_1
                    VI_2 }
            }
            """)
        #expect(statements[0].block == [KeepalivedStatement(keyword: "198.18.0.2", arguments: ["198.18.0.3"], line: 1)])
        #expect(statements[1].words == ["vrrp_sync_group", "G1"])
        #expect(statements[1].block?[0].block?.map(\.words) == [["VI_1"], ["VI_2"]])
    }

    @Test func commentsStartAnywhereOutsideQuotes() throws {
        let (statements, _) = try parse("""
            a b # c
            d !e
            script "/bin/echo # not a comment ! either"
            """)
        #expect(statements.map(\.words) == [["a", "b"], ["d"], ["script", "/bin/echo # not a comment ! either"]])
    }

    /// keepalived.conf(5), "Quoted strings".
    @Test func quotesJoinAndSplitAsTheManualSays() throws {
        let one = try parse(#"x 'abcd" efg h jkl "mnop'"#).statements[0].arguments
        #expect(one == [#"abcd" efg h jkl "mnop"#])
        let joined = try parse(#"x abcd" efg h jkl "mnop"#).statements[0].arguments
        #expect(joined == ["abcd efg h jkl mnop"])
        let three = try parse(#"x abcd "efg h jkl" mnop"#).statements[0].arguments
        #expect(three == ["abcd", "efg h jkl", "mnop"])
        let escaped = try parse(#"x "a\x41\101\tb\"c\\""#).statements[0].arguments
        #expect(escaped == ["aAA\tb\"c\\"])
    }

    @Test func unreadableInputIsAnErrorWithItsLine() {
        #expect(throws: KeepalivedSyntaxError(file: "k.conf", line: 2, message: "'{' of vrrp_instance is never closed")) {
            try parse("\nvrrp_instance VI_1 {\n  priority 100\n")
        }
        #expect(throws: KeepalivedSyntaxError(file: "k.conf", line: 3, message: "'}' without a block to close")) {
            try parse("a {\n}\n}\n")
        }
        #expect(throws: KeepalivedSyntaxError(file: "k.conf", line: 1, message: "unterminated quoted string")) {
            try parse("script \"/bin/true\n")
        }
    }

    @Test func includeIsRefusedNotFollowed() throws {
        let (statements, refusals) = try parse("""
            global_defs {
                include /etc/keepalived/globals.conf
            }
            includea /etc/keepalived/conf.d/*.conf
            """)
        #expect(statements[0].block == [])
        #expect(statements.count == 1)
        #expect(refusals.map(\.description) == [
            "k.conf:2: include: not followed: import the included file (/etc/keepalived/globals.conf) on its own, or paste it in",
            "k.conf:4: includea: not followed: import the included file (/etc/keepalived/conf.d/*.conf) on its own, or paste it in",
        ])
    }

    @Test func conditionalLinesFollowTheConfigID() throws {
        let text = """
            @high priority 170
            @low priority 85
            @^high advert_int 2
            """
        #expect(try parse(text, configID: "high").statements.map(\.words) == [["priority", "170"]])
        #expect(try parse(text, configID: "low").statements.map(\.words) == [["priority", "85"], ["advert_int", "2"]])
        #expect(try parse(text, configID: "other").statements.map(\.words) == [["advert_int", "2"]])
    }

    @Test func parametersAreSubstituted() throws {
        let (statements, refusals) = try parse("""
            $BASE=10.2.${SUB}
            $SUB=0
            $PRIO=150
            priority $PRIO
            address ${BASE}.100/32 $UNDEFINED ${_PWD} ${_INSTANCE} a${_HASH}b
            @node-a $ONLY=yes
            only $ONLY
            """)
        #expect(refusals.isEmpty)
        #expect(statements.map(\.words) == [
            ["priority", "150"],
            ["address", "10.2.0.100/32", "$UNDEFINED", "/etc/keepalived", "node-a", "a#b"],
            ["only", "yes"],
        ])
    }

    @Test func whatThePreprocessorDoesNotExpandIsRefused() throws {
        let (statements, refusals) = try parse("""
            $INSTANCE= \\
            vrrp_instance VI_${NUM} { \\
            }
            ~SEQ(SUBNET, 0, 3) ip_address 10.0.${SUBNET}.1
            key file:${_ENV CREDENTIALS_DIRECTORY}/vrrp_hmac
            kept
            """)
        #expect(statements.map(\.keyword) == ["key", "kept"])
        #expect(refusals.map(\.line) == [1, 4, 5])
        #expect(refusals.map(\.keyword) == ["$INSTANCE", "~SEQ", "${_ENV}"])
    }
}
