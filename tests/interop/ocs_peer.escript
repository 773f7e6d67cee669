#!/usr/bin/env escript
%%! -noshell
%%
%% An Erlang/OTP diameter credit-control peer for the OCS interop tests
%% (diameter-apps/tests/interop_erlang_ocs.rs).
%%
%%   escript ocs_peer.escript client DiaFile Port OriginHost OriginRealm DestRealm Msisdn
%%       connects to 127.0.0.1:Port and, as a credit-control client (application 4), runs
%%       a Gy data session (CCR-INITIAL, CCR-UPDATE, CCR-TERMINATION, each with one
%%       Multiple-Services-Credit-Control for Rating-Group 100 carrying a
%%       Requested-Service-Unit and/or a Used-Service-Unit in octets, and the user's
%%       Subscription-Id) and then a Ro SMS event (CCR-EVENT with Requested-Action
%%       DIRECT_DEBITING, Service-Identifier 1, one service-specific unit). Prints every
%%       answer, removes the transport (DPR) and exits.
%%   escript ocs_peer.escript features DiaFile Port OriginHost OriginRealm DestRealm Msisdn
%%       connects like the client and runs the RFC 4006 features one by one (the users are
%%       Msisdn ++ "1" (a rich account), "2" and "3" (poor ones); every request carries an
%%       Event-Timestamp from ?WALL0 on, which the test's OCS takes as its clock):
%%       P: CCR-I with Multiple-Services-Indicator, data (Rating-Group 100) and voice
%%          (Rating-Group 200) asked for: pool references and Tariff-Time-Change;
%%       S: CCR-U reporting voice usage split by Tariff-Change-Usage (240 s before the change,
%%          120 s after) and 1 MB of data; T: its CCR-T;
%%       N: CCR-I without Multiple-Services-Indicator (one MSCC): session-level units;
%%       M: CCR-I asking for CC-Money (0.30 EUR of data);
%%       A: CCR-EVENT without Requested-Action: 5005 with Failed-AVP;
%%       C: CCR-EVENT DIRECT_DEBITING for one SMS: Cost-Information;
%%       R and X: CCR-I of the poor users: the last units with Final-Unit-Indication
%%          REDIRECT (Redirect-Server) and RESTRICT_ACCESS (Filter-Id).
%%       Each answer is printed as a "FEAT step=..." line; N, M, R and X are closed by CCR-Ts
%%       without usage.
%%   escript ocs_peer.escript server DiaFile Port OriginHost OriginRealm DestRealm Grant
%%       listens on 127.0.0.1:Port as a credit-control server: answers a CCR-INITIAL or
%%       CCR-UPDATE with 2001 and, per Multiple-Services-Credit-Control of the request that
%%       asks for units, a grant of Grant octets (Validity-Time 3600); a CCR-TERMINATION
%%       with 2001; a CCR-EVENT with 2001 and the units it asked for. Prints every CCR and
%%       exits when the peer goes down.
%%
%% DiaFile is the full RFC 4006 dictionary tests/interop/ocs_rfc4006.dia, compiled here in
%% memory (Debian's erlang-diameter ships no include directory). The base application is
%% OTP's own diameter_gen_base_rfc6733.
%%
%% Every line on stdout is one event for the test to read ("UP ...", "CCA ...", "CCR ...",
%% "DOWN ...", "DONE", "ANSWER_DECODE_ERRORS ...", "CCR_ERRORS ...", "ERROR ...").
%% Every wait is bounded; the script halts with a non-zero status on any failure.

-mode(compile).

-export([peer_up/3, peer_down/3, pick_peer/4, prepare_request/3, prepare_retransmit/3,
         handle_answer/4, handle_error/4, handle_request/3]).

%% From diameter.hrl (Debian's erlang-diameter ships no include directory).
-record(diameter_packet, {header, avps, msg, bin, errors = [], transport_data}).

-define(SVC, interop_ocs_peer).
-define(LIMIT, 15000).
-define(GY, "32251@3gpp.org").
-define(SMS, "32274@3gpp.org").
%% 2022-01-08 19:55:00 UTC (Unix seconds), five minutes before the voice tariff's 20:00 band.
-define(WALL0, 1641671700).
%% Seconds from year 0 (calendar) to the Unix epoch.
-define(UNIX0, 62167219200).

main([Mode, DiaFile, PortS, Host, Realm, DestRealm, Arg]) ->
    Port = list_to_integer(PortS),
    %% A watchdog for the whole script: never outlive the test.
    spawn(fun() -> timer:sleep(60000), out("ERROR script timeout"), halt(3) end),
    Dict = compile_dictionary(DiaFile),
    ok = diameter:start(),
    ok = diameter:start_service(?SVC, service(Host, Realm, Dict)),
    diameter:subscribe(?SVC),
    run(list_to_atom(Mode), Port, Host, Realm, DestRealm, Arg);
main(Args) ->
    out("ERROR bad arguments ~p", [Args]),
    halt(2).

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
     {'Auth-Application-Id', [4]},
     {decode_format, map},
     {string_decode, false},
     %% Report M-bit AVPs that the grammar does not allow as errors (5001).
     {strict_mbit, true},
     {application, [{alias, common},
                    {dictionary, diameter_gen_base_rfc6733},
                    {module, ?MODULE}]},
     {application, [{alias, cc},
                    {dictionary, Dict},
                    {module, ?MODULE},
                    %% Hand answers with decode errors to handle_answer (the default
                    %% discards them), so that the test sees what OTP objects to.
                    {answer_errors, callback}]}].

transport_opts() ->
    [{transport_module, diameter_tcp},
     {watchdog_timer, 30000},
     {reconnect_timer, 60000}].

%% ---------------------------------------------------------------------------
%% Client

run(client, Port, Host, Realm, DestRealm, Msisdn) ->
    {ok, Ref} = diameter:add_transport(
                  ?SVC,
                  {connect, [{transport_config, [{raddr, {127, 0, 0, 1}},
                                                 {rport, Port},
                                                 {ip, {127, 0, 0, 1}},
                                                 {port, 0}]}
                             | transport_opts()]}),
    wait_up(),
    Sid = diameter:session_id(Host),
    Base = fun(S, Ctx, Type, Num) ->
                   [{'Session-Id', S},
                    {'Origin-Host', Host},
                    {'Origin-Realm', Realm},
                    {'Destination-Realm', DestRealm},
                    {'Auth-Application-Id', 4},
                    {'Service-Context-Id', Ctx},
                    {'CC-Request-Type', Type},
                    {'CC-Request-Number', Num},
                    {'Event-Timestamp', [{{2024, 5, 1}, {12, 0, Num}}]},
                    {'Subscription-Id', [[{'Subscription-Id-Type', 0},     % END_USER_E164
                                          {'Subscription-Id-Data', Msisdn}]]}]
           end,
    Data = fun(Rsu, Usu) ->
                   [{'Rating-Group', [100]}]
                       ++ [{'Requested-Service-Unit', [[{'CC-Total-Octets', [R]}]]}
                           || R <- Rsu]
                       ++ [{'Used-Service-Unit', [[{'CC-Total-Octets', [U]}]]} || U <- Usu]
           end,
    %% CCR-INITIAL: ask for 2 MB.
    call("I", ['CCR' | Base(Sid, ?GY, 1, 0)
                      ++ [{'Multiple-Services-Indicator', [1]},
                          {'Multiple-Services-Credit-Control', [Data([2000000], [])]}]]),
    %% CCR-UPDATE: 1 MB used, 2 MB more asked for.
    call("U", ['CCR' | Base(Sid, ?GY, 2, 1)
                      ++ [{'Multiple-Services-Indicator', [1]},
                          {'Multiple-Services-Credit-Control',
                           [Data([2000000], [1000000])]}]]),
    %% CCR-TERMINATION: 2 MB used; Termination-Cause DIAMETER_LOGOUT.
    call("T", ['CCR' | Base(Sid, ?GY, 3, 2)
                      ++ [{'Termination-Cause', [1]},
                          {'Multiple-Services-Indicator', [1]},
                          {'Multiple-Services-Credit-Control', [Data([], [2000000])]}]]),
    %% CCR-EVENT: one SMS, DIRECT_DEBITING.
    Sms = diameter:session_id(Host),
    call("E", ['CCR' | Base(Sms, ?SMS, 4, 0)
                      ++ [{'Requested-Action', [0]},
                          {'Multiple-Services-Indicator', [1]},
                          {'Multiple-Services-Credit-Control',
                           [[{'Service-Identifier', [1]},
                             {'Requested-Service-Unit',
                              [[{'CC-Service-Specific-Units', [1]}]]}]]}]]),
    %% remove_transport sends DPR and waits for the DPA (or dpr_timeout).
    ok = diameter:remove_transport(?SVC, Ref),
    wait_down(),
    out("DONE"),
    halt(0);

%% ---------------------------------------------------------------------------
%% Features

run(features, Port, Host, Realm, DestRealm, Msisdn) ->
    {ok, Ref} = diameter:add_transport(
                  ?SVC,
                  {connect, [{transport_config, [{raddr, {127, 0, 0, 1}},
                                                 {rport, Port},
                                                 {ip, {127, 0, 0, 1}},
                                                 {port, 0}]}
                             | transport_opts()]}),
    wait_up(),
    Base = fun(S, User, Ctx, Type, Num, At) ->
                   [{'Session-Id', S},
                    {'Origin-Host', Host},
                    {'Origin-Realm', Realm},
                    {'Destination-Realm', DestRealm},
                    {'Auth-Application-Id', 4},
                    {'Service-Context-Id', Ctx},
                    {'CC-Request-Type', Type},
                    {'CC-Request-Number', Num},
                    {'Event-Timestamp',
                     [calendar:gregorian_seconds_to_datetime(?WALL0 + At + ?UNIX0)]},
                    {'Subscription-Id', [[{'Subscription-Id-Type', 0},
                                          {'Subscription-Id-Data', Msisdn ++ User}]]}]
           end,
    Msi = {'Multiple-Services-Indicator', [1]},
    Rsu = fun(K, V) -> {'Requested-Service-Unit', [[{K, [V]}]]} end,
    Close = fun(Step, S, User, Num) ->
                    feat(Step, ['CCR' | Base(S, User, ?GY, 3, Num, 30)
                                       ++ [{'Termination-Cause', [1]}]])
            end,
    %% P, S, T: pools and a tariff change.
    Sid = diameter:session_id(Host),
    feat("P", ['CCR' | Base(Sid, "1", ?GY, 1, 0, 0)
                      ++ [Msi,
                          {'Multiple-Services-Credit-Control',
                           [[{'Rating-Group', [100]}, Rsu('CC-Total-Octets', 2000000)],
                            [{'Rating-Group', [200]}, Rsu('CC-Time', 300)]]}]]),
    feat("S", ['CCR' | Base(Sid, "1", ?GY, 2, 1, 420)
                      ++ [Msi,
                          {'Multiple-Services-Credit-Control',
                           [[{'Rating-Group', [100]},
                             {'Used-Service-Unit', [[{'CC-Total-Octets', [1000000]}]]}],
                            [{'Rating-Group', [200]},
                             {'Used-Service-Unit',
                              [[{'Tariff-Change-Usage', [0]}, {'CC-Time', [240]}],
                               [{'Tariff-Change-Usage', [1]}, {'CC-Time', [120]}]]}]]}]]),
    feat("T", ['CCR' | Base(Sid, "1", ?GY, 3, 2, 430)
                      ++ [{'Termination-Cause', [1]}, Msi]]),
    %% N: no Multiple-Services-Indicator.
    N = diameter:session_id(Host),
    feat("N", ['CCR' | Base(N, "1", ?GY, 1, 0, 0)
                      ++ [{'Multiple-Services-Credit-Control',
                           [[{'Rating-Group', [100]}, Rsu('CC-Total-Octets', 1000000)]]}]]),
    Close("NT", N, "1", 1),
    %% M: CC-Money asked for.
    M = diameter:session_id(Host),
    Money = [[{'Unit-Value', [[{'Value-Digits', 30}, {'Exponent', [-2]}]]},
              {'Currency-Code', [978]}]],
    feat("M", ['CCR' | Base(M, "1", ?GY, 1, 0, 0)
                      ++ [Msi,
                          {'Multiple-Services-Credit-Control',
                           [[{'Rating-Group', [100]},
                             {'Requested-Service-Unit', [[{'CC-Money', Money}]]}]]}]]),
    Close("MT", M, "1", 1),
    %% A, C: events.
    Sms = [Msi, {'Multiple-Services-Credit-Control',
                 [[{'Service-Identifier', [1]}, Rsu('CC-Service-Specific-Units', 1)]]}],
    feat("A", ['CCR' | Base(diameter:session_id(Host), "1", ?SMS, 4, 0, 0) ++ Sms]),
    feat("C", ['CCR' | Base(diameter:session_id(Host), "1", ?SMS, 4, 0, 0)
                      ++ [{'Requested-Action', [0]} | Sms]]),
    %% R, X: the last units of the poor users.
    R = diameter:session_id(Host),
    feat("R", ['CCR' | Base(R, "2", ?GY, 1, 0, 0)
                      ++ [Msi, {'Multiple-Services-Credit-Control',
                                [[{'Rating-Group', [100]},
                                  Rsu('CC-Total-Octets', 2000000)]]}]]),
    Close("RT", R, "2", 1),
    X = diameter:session_id(Host),
    feat("X", ['CCR' | Base(X, "3", ?GY, 1, 0, 0)
                      ++ [Msi, {'Multiple-Services-Credit-Control',
                                [[{'Rating-Group', [200]}, Rsu('CC-Time', 120)]]}]]),
    Close("XT", X, "3", 1),
    ok = diameter:remove_transport(?SVC, Ref),
    wait_down(),
    out("DONE"),
    halt(0);

%% ---------------------------------------------------------------------------
%% Server

run(server, Port, _Host, _Realm, _DestRealm, GrantS) ->
    %% Callbacks run in other processes: not the process dictionary.
    persistent_term:put({?MODULE, grant}, list_to_integer(GrantS)),
    {ok, _Ref} = diameter:add_transport(
                   ?SVC,
                   {listen, [{transport_config, [{reuseaddr, true},
                                                 {ip, {127, 0, 0, 1}},
                                                 {port, Port}]}
                             | transport_opts()]}),
    out("LISTENING ~p", [Port]),
    wait_up(),
    wait_down(),
    out("DONE"),
    halt(0).

call(Step, CCR) ->
    case diameter:call(?SVC, cc, CCR, [{timeout, 5000}]) of
        {ok, ['CCA' | A]} ->
            out("CCA step=~s result=~p session=~s type=~p number=~p origin=~s "
                "failover=~w ccfh=~w fui=~s mscc=~s",
                [Step,
                 maps:get('Result-Code', A),
                 maps:get('Session-Id', A),
                 maps:get('CC-Request-Type', A),
                 maps:get('CC-Request-Number', A),
                 maps:get('Origin-Host', A),
                 maps:get('CC-Session-Failover', A, []),
                 maps:get('Credit-Control-Failure-Handling', A, []),
                 fui(maps:get('Final-Unit-Indication', A, [])),
                 msccs(maps:get('Multiple-Services-Credit-Control', A, []))]);
        Other ->
            out("ERROR call ~s ~p", [Step, Other]),
            halt(1)
    end.

%% One answer of the features run: "FEAT step=P result=2001 gsu=... mscc=... cost=...
%% failed=... fui=...".
feat(Step, CCR) ->
    case diameter:call(?SVC, cc, CCR, [{timeout, 5000}]) of
        {ok, ['CCA' | A]} ->
            out("FEAT step=~s result=~p gsu=~s fui=~s cost=~s failed=~s mscc=~s",
                [Step,
                 maps:get('Result-Code', A),
                 grant(maps:get('Granted-Service-Unit', A, [])),
                 final_unit(maps:get('Final-Unit-Indication', A, [])),
                 cost(maps:get('Cost-Information', A, [])),
                 failed(maps:get('Failed-AVP', A, [])),
                 case maps:get('Multiple-Services-Credit-Control', A, []) of
                     [] -> "none";
                     Ms -> lists:join(",", [feat_mscc(Mc) || Mc <- Ms])
                 end]);
        Other ->
            out("ERROR call ~s ~p", [Step, Other]),
            halt(1)
    end.

%% "rg100:2001:tot=1000000:pool=1/2/1e-6:fui=..." per MSCC (pool: id/CC-Unit-Type/value).
feat_mscc(M) ->
    io_lib:format("~s:~s:~s:pool=~s:fui=~s",
                  [key(M), opt(maps:get('Result-Code', M, [])),
                   grant(maps:get('Granted-Service-Unit', M, [])),
                   case maps:get('G-S-U-Pool-Reference', M, []) of
                       [] -> "none";
                       Ps -> lists:join("+", [io_lib:format("~p/~p/~s",
                                                            [maps:get('G-S-U-Pool-Identifier', P),
                                                             maps:get('CC-Unit-Type', P),
                                                             value(maps:get('Unit-Value', P))])
                                              || P <- Ps])
                   end,
                   final_unit(maps:get('Final-Unit-Indication', M, []))]).

%% A Granted-Service-Unit: its units, CC-Money ("money=30e-2/978") and Tariff-Time-Change
%% in Unix seconds ("ttc=...").
grant([]) -> "none";
grant([G]) ->
    Money = [io_lib:format("money=~s/~s", [value(maps:get('Unit-Value', C)),
                                           opt(maps:get('Currency-Code', C, []))])
             || C <- maps:get('CC-Money', G, [])],
    Ttc = [io_lib:format("ttc=~p", [calendar:datetime_to_gregorian_seconds(T) - ?UNIX0])
           || T <- maps:get('Tariff-Time-Change', G, [])],
    lists:join("+", [units([G]) | Money ++ Ttc]).

%% "30e-2" for a Unit-Value.
value(V) ->
    io_lib:format("~pe~s", [maps:get('Value-Digits', V), opt(maps:get('Exponent', V, []))]).

%% "1/url/https://..../filters" for a Final-Unit-Indication.
final_unit([]) -> "none";
final_unit([F]) ->
    Redirect = case maps:get('Redirect-Server', F, []) of
                   [] -> "none";
                   [R] -> io_lib:format("~p/~s", [maps:get('Redirect-Address-Type', R),
                                                  maps:get('Redirect-Server-Address', R)])
               end,
    io_lib:format("~p/redirect=~s/filter=~s/rule=~s",
                  [maps:get('Final-Unit-Action', F), Redirect,
                   lists:join("+", maps:get('Filter-Id', F, [])),
                   lists:join("+", [io_lib:format("~s", [R])
                                    || R <- maps:get('Restriction-Filter-Rule', F, [])])]).

%% "9e-2/978" for a Cost-Information.
cost([]) -> "none";
cost([C]) ->
    io_lib:format("~s/~p", [value(maps:get('Unit-Value', C)), maps:get('Currency-Code', C)]).

%% The codes of the AVPs in the Failed-AVPs, "+"-joined.
failed([]) -> "none";
failed(Fs) ->
    lists:join("+", [integer_to_list(avp_code(A)) || F <- Fs, A <- maps:get('AVP', F, [])]).

avp_code(A) when is_tuple(A) -> element(2, A);   % #diameter_avp{code}
avp_code(_) -> 0.

%% "rg100:2001:tot=2000000:vt=1800:fui=none" per MSCC, joined with ",".
msccs([]) -> "none";
msccs(Ms) -> lists:join(",", [mscc(M) || M <- Ms]).

mscc(M) ->
    io_lib:format("~s:~s:~s:vt=~s:fui=~s",
                  [key(M), opt(maps:get('Result-Code', M, [])),
                   units(maps:get('Granted-Service-Unit', M, [])),
                   opt(maps:get('Validity-Time', M, [])),
                   fui(maps:get('Final-Unit-Indication', M, []))]).

key(M) ->
    case {maps:get('Rating-Group', M, []), maps:get('Service-Identifier', M, [])} of
        {[RG], _} -> io_lib:format("rg~p", [RG]);
        {[], [SI | _]} -> io_lib:format("si~p", [SI]);
        _ -> "none"
    end.

units([]) -> "nogsu";
units([G]) ->
    Parts = [io_lib:format("~s=~p", [N, V])
             || {K, N} <- [{'CC-Time', "time"}, {'CC-Total-Octets', "tot"},
                           {'CC-Input-Octets', "in"}, {'CC-Output-Octets', "out"},
                           {'CC-Service-Specific-Units', "ssu"}],
                [V] <- [maps:get(K, G, [])]],
    case Parts of
        [] -> "empty";
        _ -> lists:join("+", Parts)
    end.

fui([]) -> "none";
fui([F]) -> integer_to_list(maps:get('Final-Unit-Action', F)).

opt([]) -> "none";
opt([V]) -> integer_to_list(V).

wait_up() ->
    receive
        {diameter_event, ?SVC, {up, _Ref, {_PeerRef, Caps}, _Config, _Pkt}} ->
            {_, Remote} = element(2, Caps),   % #diameter_caps{}: {Local, Remote}
            out("UP peer=~s", [Remote]);
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

handle_request(#diameter_packet{msg = ['CCR' | _], errors = [_ | _] = Errors}, _Svc, _) ->
    out("CCR_ERRORS ~w", [errors(Errors)]),
    {answer_message, hd([C || {C, _} <- Errors] ++ [C || C <- Errors, is_integer(C)])};
handle_request(#diameter_packet{msg = ['CCR' | R]}, _Svc, {_, Caps}) ->
    #{'Session-Id' := Sid, 'CC-Request-Type' := Type, 'CC-Request-Number' := Num} = R,
    Subs = [io_lib:format("~p:~s", [maps:get('Subscription-Id-Type', S),
                                    maps:get('Subscription-Id-Data', S)])
            || S <- maps:get('Subscription-Id', R, [])],
    Msccs = maps:get('Multiple-Services-Credit-Control', R, []),
    out("CCR session=~s type=~p number=~p service=~s origin=~s dest=~s subs=~s "
        "action=~s term=~s mscc=~s",
        [Sid, Type, Num, maps:get('Service-Context-Id', R),
         maps:get('Origin-Host', R), maps:get('Destination-Realm', R),
         lists:join(",", Subs),
         opt(maps:get('Requested-Action', R, [])),
         opt(maps:get('Termination-Cause', R, [])),
         case Msccs of
             [] -> "none";
             _ -> lists:join(",", [request_mscc(M) || M <- Msccs])
         end]),
    Grant = persistent_term:get({?MODULE, grant}),
    Answers = [answer_mscc(Type, M, Grant) || M <- Msccs,
                                             Type /= 3,
                                             maps:is_key('Requested-Service-Unit', M)],
    {reply, ['CCA',
             {'Session-Id', Sid},
             {'Result-Code', 2001},
             {'Origin-Host', element(1, element(2, Caps))},   % the local side
             {'Origin-Realm', element(1, element(3, Caps))},
             {'Auth-Application-Id', 4},
             {'CC-Request-Type', Type},
             {'CC-Request-Number', Num},
             {'Multiple-Services-Credit-Control', Answers}]};
handle_request(#diameter_packet{msg = Msg}, _Svc, _Peer) ->
    out("ERROR unexpected request ~p", [Msg]),
    {answer_message, 3001}.

%% "rg100:rsu=empty:usu=tot=1000" for a request's MSCC.
request_mscc(M) ->
    Usu = case maps:get('Used-Service-Unit', M, []) of
              [] -> "none";
              Us -> lists:join("/", [units([U]) || U <- Us])
          end,
    Rsu = case maps:get('Requested-Service-Unit', M, []) of
              [] -> "none";
              R -> units(R)
          end,
    io_lib:format("~s:rsu=~s:usu=~s", [key(M), Rsu, Usu]).

%% The grant for one MSCC: an event gets what it asked for; a session Grant octets.
answer_mscc(4, M, _Grant) ->
    [Rsu] = maps:get('Requested-Service-Unit', M),
    [{'Granted-Service-Unit', [maps:to_list(Rsu)]},
     {'Service-Identifier', maps:get('Service-Identifier', M, [])},
     {'Rating-Group', maps:get('Rating-Group', M, [])},
     {'Result-Code', [2001]}];
answer_mscc(_Type, M, Grant) ->
    [{'Granted-Service-Unit', [[{'CC-Total-Octets', [Grant]}]]},
     {'Service-Identifier', maps:get('Service-Identifier', M, [])},
     {'Rating-Group', maps:get('Rating-Group', M, [])},
     {'Validity-Time', [3600]},
     {'Result-Code', [2001]}].

errors(Errors) ->
    [E || E <- Errors, is_integer(E)] ++ [{C, element(2, A)} || {C, A} <- Errors].

%% ---------------------------------------------------------------------------

out(Fmt) -> out(Fmt, []).

out(Fmt, Args) ->
    io:format(Fmt ++ "~n", Args).
