#!/usr/bin/env escript
%%! -noshell
%%
%% An Erlang/OTP diameter peer with the SIP application (RFC 4740, application 6) for the
%% interop tests of diameter-apps/tests/interop_erlang_sip.rs.
%%
%%   escript sip_peer.escript client DiaFile Port OriginHost OriginRealm DestRealm \
%%           Aor User Password ServerUri
%%       a SIP server's Diameter client: connects to 127.0.0.1:Port and sends, for Aor,
%%       UAR (REGISTRATION), MAR without credentials (challenge; checks the Digest-HA1 it
%%       gets against MD5(User:realm:Password)), MAR with the Digest credentials of a user
%%       agent computed here (RFC 2617, qop=auth; checks the rspauth it gets), SAR
%%       (REGISTRATION, profile wanted), UAR again, LIR, and LIR for an unknown AOR.
%%       Prints every answer ("UAA ...", "MAA ...", "SAA ...", "LIA ..."), then "READY",
%%       answers the PPR and RTR the Diameter server sends ("PPR ...", "RTR ..."), and
%%       after the RTR removes the transport (DPR) and exits.
%%   escript sip_peer.escript server DiaFile Port OriginHost OriginRealm DestRealm \
%%           Aor User Password ServerUri
%%       a SIP AAA server: listens on 127.0.0.1:Port and answers for the one user
%%       (User, Password, Aor, assigned to ServerUri) UAR (2003 with
%%       SIP-Server-Capabilities before a SAR, 2004 with SIP-Server-URI after), MAR (2001
%%       with a Digest challenge and Digest-HA1), SAR (2001 with SIP-User-Data and
%%       SIP-Accounting-Information), LIR (2001 with SIP-Server-URI); 5032 for any other
%%       AOR. After a LIR for an unknown AOR it sends a PPR and an RTR to the client
%%       ("PPA ...", "RTA ..."). Prints every request; exits when the peer goes down.
%%
%% DiaFile is tests/interop/sip_rfc4740.dia, compiled here in memory (Debian's
%% erlang-diameter ships no include directory); the base application is OTP's own
%% diameter_gen_base_rfc6733. Every DiameterURI here carries its port: OTP 25's diameter
%% (2.2.7) can neither encode nor decode one without (such as "aaa://host", valid per
%% RFC 6733 §4.3.1 with the default port), because the codec looks for an `rfc` option
%% that a service never passes (a crash turned into 5004; fixed upstream in 2025, "diameter:
%% DiameterURI port defaults to 3868"). Every wait is bounded; the script halts with a non-zero
%% status on any failure. Decode errors are printed as "ANSWER_DECODE_ERRORS ..." or
%% "REQUEST_ERRORS ...".

-mode(compile).

-export([peer_up/3, peer_down/3, pick_peer/4, prepare_request/3, prepare_retransmit/3,
         handle_answer/4, handle_error/4, handle_request/3]).

%% From diameter.hrl (Debian's erlang-diameter ships no include directory).
-record(diameter_packet, {header, avps, msg, bin, errors = [], transport_data}).

-define(SVC, interop_sip_peer).
-define(MAIN, interop_sip_main).
-define(LIMIT, 15000).
-define(NO_STATE, 1).   % Auth-Session-State NO_STATE_MAINTAINED

main([Mode, DiaFile, PortS, Host, Realm, DestRealm, Aor, User, Password, ServerUri]) ->
    Port = list_to_integer(PortS),
    %% A watchdog for the whole script: never outlive the test.
    spawn(fun() -> timer:sleep(60000), out("ERROR script timeout"), halt(3) end),
    register(?MAIN, self()),
    %% Callbacks run in other processes: settings go in persistent terms.
    [persistent_term:put({?MODULE, K}, V)
     || {K, V} <- [{host, Host}, {realm, Realm}, {dest_realm, DestRealm}, {aor, Aor},
                   {user, User}, {password, Password}, {server_uri, ServerUri}]],
    Dict = compile_dictionary(DiaFile),
    ok = diameter:start(),
    ok = diameter:start_service(?SVC, service(Host, Realm, Dict)),
    diameter:subscribe(?SVC),
    run(list_to_atom(Mode), Port);
main(Args) ->
    out("ERROR bad arguments ~p", [Args]),
    halt(2).

cfg(K) -> persistent_term:get({?MODULE, K}).

compile_dictionary(DiaFile) ->
    case diameter_make:codec(DiaFile, [return, forms]) of
        {ok, [Forms | _]} ->
            {ok, Mod, Bin} = compile:forms(Forms, [return_errors]),
            {module, Mod} = code:load_binary(Mod, DiaFile, Bin),
            Mod;
        Err ->
            out("ERROR dictionary ~p", [Err]),
            halt(2)
    end.

service(Host, Realm, Dict) ->
    [{'Origin-Host', Host},
     {'Origin-Realm', Realm},
     {'Vendor-Id', 193},
     {'Product-Name', "OTP/diameter"},
     {'Firmware-Revision', 1},
     {'Origin-State-Id', diameter:origin_state_id()},
     {'Host-IP-Address', [{127, 0, 0, 1}]},
     {'Auth-Application-Id', [6]},
     {decode_format, map},
     {string_decode, false},
     %% Report M-bit AVPs that the grammar does not allow as errors (5001).
     {strict_mbit, true},
     {application, [{alias, common},
                    {dictionary, diameter_gen_base_rfc6733},
                    {module, ?MODULE}]},
     {application, [{alias, sip},
                    {dictionary, Dict},
                    {module, ?MODULE},
                    %% Hand answers with decode errors to handle_answer (the default
                    %% discards them), so that the test sees what OTP objects to.
                    {answer_errors, callback}]}].

transport_opts() ->
    [{transport_module, diameter_tcp},
     {watchdog_timer, 30000},
     {reconnect_timer, 60000}].

common(Host, Realm, DestRealm) ->
    [{'Session-Id', diameter:session_id(Host)},
     {'Auth-Application-Id', 6},
     {'Auth-Session-State', ?NO_STATE},
     {'Origin-Host', Host},
     {'Origin-Realm', Realm},
     {'Destination-Realm', DestRealm}].

%% ---------------------------------------------------------------------------
%% Client: the SIP server's side

run(client, Port) ->
    {ok, Ref} = diameter:add_transport(
                  ?SVC,
                  {connect, [{transport_config, [{raddr, {127, 0, 0, 1}},
                                                 {rport, Port},
                                                 {ip, {127, 0, 0, 1}},
                                                 {port, 0}]}
                             | transport_opts()]}),
    wait_up(),
    [Host, Realm, Dest, Aor, User, Pw, Uri] =
        [cfg(K) || K <- [host, realm, dest_realm, aor, user, password, server_uri]],
    C = fun() -> common(Host, Realm, Dest) end,
    %% UAR: first registration.
    uaa("1", call(['UAR' | C() ++ [{'SIP-AOR', Aor},
                                   {'SIP-User-Authorization-Type', [0]}]])),
    %% MAR without credentials: a challenge, with H(A1) for a check in the SIP server.
    Maa = call(['MAR' | C() ++ [{'SIP-AOR', Aor},
                                {'SIP-Method', "REGISTER"},
                                {'User-Name', [User]},
                                {'SIP-Server-URI', [Uri]},
                                {'SIP-Number-Auth-Items', [1]},
                                {'SIP-Auth-Data-Item', [[{'SIP-Authentication-Scheme', 0}]]}]]),
    [Item | _] = maps:get('SIP-Auth-Data-Item', Maa),
    [Auth] = maps:get('SIP-Authenticate', Item),
    DRealm = maps:get('Digest-Realm', Auth),
    Nonce = maps:get('Digest-Nonce', Auth),
    Ha1 = hex(erlang:md5([User, ":", DRealm, ":", Pw])),
    Given = case maps:get('Digest-HA1', Auth, []) of
                [H] -> binary_to_list(H);
                [] -> "none"
            end,
    out("MAA step=challenge result=~p user=~s aor=~s items=~w scheme=~p realm=~s "
        "algorithm=~s qop=~s nonce_len=~p ha1_ok=~p",
        [maps:get('Result-Code', Maa), opt(maps:get('User-Name', Maa, [])),
         opt(maps:get('SIP-AOR', Maa, [])), maps:get('SIP-Number-Auth-Items', Maa, []),
         maps:get('SIP-Authentication-Scheme', Item), DRealm,
         opt(maps:get('Digest-Algorithm', Auth, [])), opt(maps:get('Digest-QoP', Auth, [])),
         byte_size(Nonce), Given == Ha1]),
    %% MAR with a user agent's credentials (RFC 2617, qop=auth): checked by the server.
    {DigestUri, Nc, Cnonce} = {"sip:example.com", "00000001", "0a4f113b"},
    Ha2 = hex(erlang:md5(["REGISTER:", DigestUri])),
    Response = hex(erlang:md5([Ha1, ":", Nonce, ":", Nc, ":", Cnonce, ":auth:", Ha2])),
    Maa2 = call(['MAR' | C() ++ [{'SIP-AOR', Aor},
                                 {'SIP-Method', "REGISTER"},
                                 {'User-Name', [User]},
                                 {'SIP-Server-URI', [Uri]},
                                 {'SIP-Number-Auth-Items', [1]},
                                 {'SIP-Auth-Data-Item',
                                  [[{'SIP-Authentication-Scheme', 0},
                                    {'SIP-Authorization',
                                     [[{'Digest-Username', User},
                                       {'Digest-Realm', DRealm},
                                       {'Digest-Nonce', Nonce},
                                       {'Digest-URI', DigestUri},
                                       {'Digest-Response', Response},
                                       {'Digest-Algorithm', ["MD5"]},
                                       {'Digest-CNonce', [Cnonce]},
                                       {'Digest-QoP', ["auth"]},
                                       {'Digest-Nonce-Count', [Nc]},
                                       {'Digest-Method', ["REGISTER"]}]]}]]}]]),
    RspAuth = hex(erlang:md5([Ha1, ":", Nonce, ":", Nc, ":", Cnonce, ":auth:",
                              hex(erlang:md5([":", DigestUri]))])),
    Got = [binary_to_list(R)
           || I <- maps:get('SIP-Auth-Data-Item', Maa2, []),
              Info <- maps:get('SIP-Authentication-Info', I, []),
              R <- maps:get('Digest-Response-Auth', Info, [])],
    out("MAA step=credentials result=~p rspauth_ok=~p",
        [maps:get('Result-Code', Maa2), Got == [RspAuth]]),
    %% SAR: registration, profile wanted.
    Saa = call(['SAR' | C() ++ [{'SIP-Server-Assignment-Type', 1},
                                {'SIP-User-Data-Already-Available', 0},
                                {'User-Name', [User]},
                                {'SIP-Server-URI', [Uri]},
                                {'SIP-AOR', [Aor]}]]),
    out("SAA result=~p data=~s acct=~s cc=~s",
        [maps:get('Result-Code', Saa),
         join([[T, "|", D] || #{'SIP-User-Data-Type' := T, 'SIP-User-Data-Contents' := D}
                                  <- maps:get('SIP-User-Data', Saa, [])]),
         join([uri(U) || A <- maps:get('SIP-Accounting-Information', Saa, []),
                         U <- maps:get('SIP-Accounting-Server-URI', A, [])]),
         join([uri(U) || A <- maps:get('SIP-Accounting-Information', Saa, []),
                         U <- maps:get('SIP-Credit-Control-Server-URI', A, [])])]),
    %% The next REGISTER (stateless proxy): UAR again.
    uaa("2", call(['UAR' | C() ++ [{'SIP-AOR', Aor},
                                   {'User-Name', [User]},
                                   {'SIP-User-Authorization-Type', [0]}]])),
    lia("known", call(['LIR' | C() ++ [{'SIP-AOR', Aor}]])),
    lia("unknown", call(['LIR' | C() ++ [{'SIP-AOR', "sip:nobody@example.com"}]])),
    out("READY"),
    %% The Diameter server's PPR and RTR (answered in handle_request), then DPR.
    receive
        rtr_done -> ok
    after ?LIMIT ->
        out("ERROR no RTR"),
        halt(1)
    end,
    ok = diameter:remove_transport(?SVC, Ref),
    wait_down(),
    out("DONE"),
    halt(0);

%% ---------------------------------------------------------------------------
%% Server: the SIP AAA server's side

run(server, Port) ->
    {ok, _Ref} = diameter:add_transport(
                   ?SVC,
                   {listen, [{transport_config, [{reuseaddr, true},
                                                 {ip, {127, 0, 0, 1}},
                                                 {port, Port}]}
                             | transport_opts()]}),
    out("LISTENING ~p", [Port]),
    Remote = wait_up(),
    receive
        push ->
            [Host, Realm, Dest, User] = [cfg(K) || K <- [host, realm, dest_realm, user]],
            C = common(Host, Realm, Dest) ++ [{'Destination-Host', [Remote]}],
            Ppa = call(['PPR' | C ++ [{'User-Name', User},
                                      {'SIP-User-Data',
                                       [[{'SIP-User-Data-Type', "application/xml"},
                                         {'SIP-User-Data-Contents', "<services><fwd/></services>"}]]},
                                      {'SIP-Accounting-Information',
                                       [[{'SIP-Credit-Control-Server-URI',
                                          ["aaa://ocs.example.com:3868"]}]]}]]),
            out("PPA result=~p origin=~s", [maps:get('Result-Code', Ppa),
                                            maps:get('Origin-Host', Ppa)]),
            %% RTR: Destination-Host is required, Destination-Realm optional.
            Rtr = [{K, V} || {K, V} <- C, K /= 'Destination-Realm', K /= 'Destination-Host']
                ++ [{'Destination-Host', Remote},
                    {'SIP-Deregistration-Reason', [{'SIP-Reason-Code', 0},
                                                   {'SIP-Reason-Info', ["bye"]}]},
                    {'User-Name', [User]},
                    {'SIP-AOR', [cfg(aor)]}],
            Rta = call(['RTR' | Rtr]),
            out("RTA result=~p origin=~s", [maps:get('Result-Code', Rta),
                                            maps:get('Origin-Host', Rta)])
    after ?LIMIT ->
        out("ERROR no LIR for an unknown AOR")
    end,
    wait_down(),
    out("DONE"),
    halt(0).

call(Req) ->
    case diameter:call(?SVC, sip, Req, [{timeout, 5000}]) of
        {ok, [_Name | A]} -> A;
        Other ->
            out("ERROR call ~p: ~p", [hd(Req), Other]),
            halt(1)
    end.

uaa(Step, A) ->
    out("UAA step=~s result=~p uri=~s caps=~s",
        [Step, maps:get('Result-Code', A), opt(maps:get('SIP-Server-URI', A, [])),
         caps(maps:get('SIP-Server-Capabilities', A, []))]).

lia(Step, A) ->
    out("LIA step=~s result=~p uri=~s",
        [Step, maps:get('Result-Code', A), opt(maps:get('SIP-Server-URI', A, []))]).

%% "m1/o2/sip:x" for SIP-Server-Capabilities.
caps([]) -> "none";
caps([C]) ->
    join([io_lib:format("m~p", [M]) || M <- maps:get('SIP-Mandatory-Capability', C, [])]
         ++ [io_lib:format("o~p", [O]) || O <- maps:get('SIP-Optional-Capability', C, [])]
         ++ maps:get('SIP-Server-URI', C, [])).

%% A decoded DiameterURI (#diameter_uri{type, fqdn, port, transport, protocol}).
uri(U) when is_tuple(U) ->
    io_lib:format("~s://~s:~p", [element(2, U), element(3, U), element(4, U)]);
uri(U) -> U.

join([]) -> "none";
join(L) -> lists:join("/", L).

opt([]) -> "none";
opt([V]) -> V.

hex(Bin) -> lists:flatten([io_lib:format("~2.16.0b", [B]) || <<B>> <= Bin]).

wait_up() ->
    receive
        {diameter_event, ?SVC, {up, _Ref, {_PeerRef, Caps}, _Config, _Pkt}} ->
            {_, Remote} = element(2, Caps),   % #diameter_caps{}: {Local, Remote}
            out("UP peer=~s", [Remote]),
            Remote;
        {diameter_event, ?SVC, {closed, _Ref, Reason, _Config}} ->
            out("ERROR closed ~p", [Reason]),
            halt(1)
    after ?LIMIT ->
        out("ERROR no capabilities exchange"),
        halt(1)
    end.

wait_down() ->
    receive
        {diameter_event, ?SVC, {down, _Ref, {_PeerRef, Caps}, _Config}} ->
            {_, Remote} = element(2, Caps),
            out("DOWN peer=~s", [Remote]);
        {diameter_event, ?SVC, {watchdog, _, _, {_, down}, _}} ->
            out("DOWN watchdog");
        {diameter_event, ?SVC, _Other} ->
            wait_down()
    after ?LIMIT ->
        out("ERROR peer never went down"),
        halt(1)
    end.

%% ---------------------------------------------------------------------------
%% diameter_app callbacks

peer_up(_Svc, _Peer, State) -> State.

peer_down(_Svc, _Peer, State) -> State.

pick_peer([Peer | _], _Remote, _Svc, _State) -> {ok, Peer};
pick_peer([], _Remote, _Svc, _State) -> false.

prepare_request(Pkt, _Svc, _Peer) -> {send, Pkt}.

prepare_retransmit(Pkt, _Svc, _Peer) -> {send, Pkt}.

handle_answer(#diameter_packet{msg = Msg, errors = []}, _Req, _Svc, _Peer) ->
    {ok, Msg};
handle_answer(#diameter_packet{msg = Msg, errors = Errors}, _Req, _Svc, _Peer) ->
    out("ANSWER_DECODE_ERRORS ~w", [errors(Errors)]),
    {ok, Msg}.

handle_error(Reason, _Req, _Svc, _Peer) -> {error, Reason}.

handle_request(#diameter_packet{msg = [Name | _], errors = [_ | _] = Errors}, _Svc, _) ->
    out("REQUEST_ERRORS ~s ~w", [Name, errors(Errors)]),
    {answer_message, hd([C || {C, _} <- Errors] ++ [C || C <- Errors, is_integer(C)])};
handle_request(#diameter_packet{msg = [Name | R]}, _Svc, {_, Caps}) ->
    Local = {element(1, element(2, Caps)), element(1, element(3, Caps))},
    case answer(Name, R) of
        {Ans, Code, Extra} ->
            {reply, [Ans,
                     {'Session-Id', maps:get('Session-Id', R)},
                     {'Auth-Application-Id', 6},
                     {'Auth-Session-State', ?NO_STATE},
                     {'Result-Code', Code},
                     {'Origin-Host', element(1, Local)},
                     {'Origin-Realm', element(2, Local)}
                     | Extra]};
        unexpected ->
            out("ERROR unexpected request ~p", [Name]),
            {answer_message, 3001}
    end.

%% Requests the client side gets from the Diameter server.
answer('PPR', R) ->
    out("PPR user=~s dest=~s data=~s cc=~s",
        [maps:get('User-Name', R), opt(maps:get('Destination-Host', R, [])),
         join([[T, "|", D] || #{'SIP-User-Data-Type' := T, 'SIP-User-Data-Contents' := D}
                                  <- maps:get('SIP-User-Data', R, [])]),
         join([uri(U) || A <- maps:get('SIP-Accounting-Information', R, []),
                         U <- maps:get('SIP-Credit-Control-Server-URI', A, [])])]),
    {'PPA', 2001, []};
answer('RTR', R) ->
    #{'SIP-Reason-Code' := Reason} = maps:get('SIP-Deregistration-Reason', R),
    out("RTR user=~s dest=~s reason=~p aors=~s",
        [opt(maps:get('User-Name', R, [])), maps:get('Destination-Host', R), Reason,
         join(maps:get('SIP-AOR', R, []))]),
    ?MAIN ! rtr_done,
    {'RTA', 2001, []};
%% Requests the server side gets from the SIP server.
answer('UAR', R) ->
    Aor = maps:get('SIP-AOR', R),
    out("UAR aor=~s user=~s type=~s visited=~s origin=~s",
        [Aor, opt(maps:get('User-Name', R, [])),
         opt_int(maps:get('SIP-User-Authorization-Type', R, [])),
         opt(maps:get('SIP-Visited-Network-Id', R, [])), maps:get('Origin-Host', R)]),
    case {known(Aor), persistent_term:get({?MODULE, registered}, false)} of
        {false, _} -> {'UAA', 5032, []};
        {true, false} ->
            {'UAA', 2003, [{'SIP-Server-Capabilities',
                            [[{'SIP-Mandatory-Capability', [1]},
                              {'SIP-Optional-Capability', [2]},
                              {'SIP-Server-URI', [cfg(server_uri)]}]]}]};
        {true, true} ->
            {'UAA', 2004, [{'SIP-Server-URI', [cfg(server_uri)]}]}
    end;
answer('MAR', R) ->
    Aor = maps:get('SIP-AOR', R),
    Items = maps:get('SIP-Auth-Data-Item', R, []),
    out("MAR aor=~s method=~s user=~s server=~s items=~w schemes=~w",
        [Aor, maps:get('SIP-Method', R), opt(maps:get('User-Name', R, [])),
         opt(maps:get('SIP-Server-URI', R, [])), maps:get('SIP-Number-Auth-Items', R, []),
         [maps:get('SIP-Authentication-Scheme', I) || I <- Items]]),
    case known(Aor) of
        false -> {'MAA', 5032, []};
        true ->
            {User, Pw, Realm} = {cfg(user), cfg(password), "example.com"},
            Ha1 = hex(erlang:md5([User, ":", Realm, ":", Pw])),
            {'MAA', 2001,
             [{'User-Name', [User]},
              {'SIP-AOR', [Aor]},
              {'SIP-Number-Auth-Items', [1]},
              {'SIP-Auth-Data-Item',
               [[{'SIP-Authentication-Scheme', 0},
                 {'SIP-Item-Number', [1]},
                 {'SIP-Authenticate', [[{'Digest-Realm', Realm},
                                        {'Digest-Nonce', "dcd98b7102dd2f0e8b11d0f600bfb0c093"},
                                        {'Digest-Algorithm', ["MD5"]},
                                        {'Digest-QoP', ["auth"]},
                                        {'Digest-HA1', [Ha1]}]]}]]}]}
    end;
answer('SAR', R) ->
    Aors = maps:get('SIP-AOR', R, []),
    out("SAR type=~p available=~p user=~s server=~s aors=~s types=~s",
        [maps:get('SIP-Server-Assignment-Type', R),
         maps:get('SIP-User-Data-Already-Available', R),
         opt(maps:get('User-Name', R, [])), opt(maps:get('SIP-Server-URI', R, [])),
         join(Aors), join(maps:get('SIP-Supported-User-Data-Type', R, []))]),
    case lists:all(fun known/1, Aors) of
        false -> {'SAA', 5032, []};
        true ->
            persistent_term:put({?MODULE, registered}, true),
            {'SAA', 2001,
             [{'User-Name', [cfg(user)]},
              {'SIP-User-Data', [[{'SIP-User-Data-Type', "application/xml"},
                                  {'SIP-User-Data-Contents', "<services/>"}]]},
              {'SIP-Accounting-Information',
               [[{'SIP-Accounting-Server-URI', ["aaa://acct.example.com:3868"]},
                 {'SIP-Credit-Control-Server-URI', ["aaa://ocs.example.com:3868"]}]]}]}
    end;
answer('LIR', R) ->
    Aor = maps:get('SIP-AOR', R),
    out("LIR aor=~s origin=~s", [Aor, maps:get('Origin-Host', R)]),
    case known(Aor) of
        true -> {'LIA', 2001, [{'SIP-Server-URI', [cfg(server_uri)]}]};
        false ->
            %% The test's last request: now push a profile and deregister.
            ?MAIN ! push,
            {'LIA', 5032, []}
    end;
answer(_, _) ->
    unexpected.

known(Aor) -> iolist_to_binary(Aor) == iolist_to_binary(cfg(aor)).

opt_int([]) -> "none";
opt_int([V]) -> integer_to_list(V).

errors(Errors) ->
    [E || E <- Errors, is_integer(E)] ++ [{C, element(2, A)} || {C, A} <- Errors].

%% ---------------------------------------------------------------------------

out(Fmt) -> out(Fmt, []).

out(Fmt, Args) ->
    io:format(Fmt ++ "~n", Args).
