#!/usr/bin/env escript
%%! -noshell
%%
%% An Erlang/OTP diameter peer for the interop tests (tests/interop_erlang.rs).
%%
%%   escript peer.escript client DiaFile Port OriginHost OriginRealm DestRealm TwMs
%%       connects to 127.0.0.1:Port, waits for the capabilities exchange, sends one
%%       Credit-Control-Request (CCR-INITIAL), prints the answer, lets the watchdog run
%%       for a while, then removes the transport (DPR) and exits.
%%   escript peer.escript server DiaFile Port OriginHost OriginRealm DestRealm TwMs
%%       listens on 127.0.0.1:Port, answers every CCR with a CCA (2001, Granted-Service-Unit
%%       and one Multiple-Services-Credit-Control), and exits when the peer goes down.
%%
%% DiaFile is the credit-control dictionary (tests/interop/cc_rfc4006.dia), compiled here
%% in memory. The base application uses OTP's own diameter_gen_base_rfc6733.
%%
%% Every line on stdout is one event for the test to read: "UP ...", "CCA ...",
%% "CCR ...", "DOWN ...", "DONE", or "ERROR ...". Every wait is bounded; the script halts
%% with a non-zero status on any failure.

-mode(compile).

-export([peer_up/3, peer_down/3, pick_peer/4, prepare_request/3, prepare_retransmit/3,
         handle_answer/4, handle_error/4, handle_request/3]).

%% From diameter.hrl (Debian's erlang-diameter ships no include directory).
-record(diameter_packet, {header, avps, msg, bin, errors = [], transport_data}).
-record(diameter_avp, {code, vendor_id, is_mandatory = false, need_encryption = false,
                       data, name, value, type, index}).

-define(SVC, interop_peer).
-define(LIMIT, 15000).

main([Mode, DiaFile, PortS, Host, Realm, DestRealm, TwS]) ->
    Port = list_to_integer(PortS),
    Tw = list_to_integer(TwS),
    %% A watchdog for the whole script: never outlive the test.
    spawn(fun() -> timer:sleep(60000), out("ERROR script timeout"), halt(3) end),
    Dict = compile_dictionary(DiaFile),
    ok = diameter:start(),
    ok = diameter:start_service(?SVC, service(Host, Realm, Dict)),
    diameter:subscribe(?SVC),
    put(dest_realm, DestRealm),
    run(list_to_atom(Mode), Port, Host, Realm, DestRealm, Tw);
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
     {application, [{alias, common},
                    {dictionary, diameter_gen_base_rfc6733},
                    {module, ?MODULE}]},
     {application, [{alias, cc},
                    {dictionary, Dict},
                    {module, ?MODULE},
                    %% Hand answers with decode errors to handle_answer (the default
                    %% discards them), so that the test sees what OTP objects to.
                    {answer_errors, callback}]}].

transport_opts(Tw) ->
    [{transport_module, diameter_tcp},
     {watchdog_timer, {erlang, abs, [Tw]}},   % no jitter: Tw exactly
     {reconnect_timer, 60000}].

run(client, Port, Host, Realm, DestRealm, Tw) ->
    {ok, Ref} = diameter:add_transport(
                  ?SVC,
                  {connect, [{transport_config, [{raddr, {127, 0, 0, 1}},
                                                 {rport, Port},
                                                 {ip, {127, 0, 0, 1}},
                                                 {port, 0}]}
                             | transport_opts(Tw)]}),
    wait_up(),
    SessionId = diameter:session_id(Host),
    CCR = ['CCR',
           {'Session-Id', SessionId},
           {'Origin-Host', Host},
           {'Origin-Realm', Realm},
           {'Destination-Realm', DestRealm},
           {'Auth-Application-Id', 4},
           {'Service-Context-Id', "32251@3gpp.org"},
           {'CC-Request-Type', 1},
           {'CC-Request-Number', 0},
           {'Event-Timestamp', [{{2024, 5, 1}, {12, 0, 0}}]},
           {'Subscription-Id', [[{'Subscription-Id-Type', 0},
                                 {'Subscription-Id-Data', "491701234567"}],
                                [{'Subscription-Id-Type', 1},
                                 {'Subscription-Id-Data', "262011234567890"}]]},
           {'Multiple-Services-Indicator', [1]},
           {'Multiple-Services-Credit-Control',
            [[{'Requested-Service-Unit', [[{'CC-Total-Octets', [1000000]}]]},
              {'Rating-Group', [10]}]]}],
    case diameter:call(?SVC, cc, CCR, [{timeout, 5000}]) of
        {ok, ['CCA' | A]} ->
            out("CCA result=~p session=~s type=~p number=~p origin=~s gsu_time=~p mscc=~s",
                [maps:get('Result-Code', A),
                 maps:get('Session-Id', A),
                 maps:get('CC-Request-Type', A),
                 maps:get('CC-Request-Number', A),
                 maps:get('Origin-Host', A),
                 gsu_time(maps:get('Granted-Service-Unit', A, [])),
                 mscc(maps:get('Multiple-Services-Credit-Control', A, []))]);
        Other ->
            out("ERROR call ~p", [Other]),
            halt(1)
    end,
    %% A CCR with an AVP nobody knows, with the M bit: the answer must be a protocol
    %% error (5001 DIAMETER_AVP_UNSUPPORTED) naming it in Failed-AVP.
    Unknown = #diameter_avp{code = 99999, is_mandatory = true, data = <<"unknown">>},
    ['CCR' | Fields] = CCR,
    Bad = ['CCR', {'Session-Id', diameter:session_id(Host)}, {'AVP', [Unknown]}
           | [F || {K, _} = F <- Fields, K /= 'Session-Id']],
    case diameter:call(?SVC, cc, Bad, [{timeout, 5000}]) of
        %% 5001 is a permanent failure, not a protocol error: no E bit, so OTP decodes
        %% it as a CCA (an E-bit answer would come as 'answer-message').
        {ok, [Name | E]} when Name == 'CCA'; Name == 'answer-message' ->
            Failed = case maps:get('Failed-AVP', E, []) of
                         [#{'AVP' := [FA | _]} | _] -> element(2, FA);   % its code
                         _ -> undecodable
                     end,
            out("ERRANSWER name=~s result=~p failed_avp=~p origin=~s",
                [Name, maps:get('Result-Code', E), Failed, maps:get('Origin-Host', E)]);
        Other2 ->
            out("ERROR error answer ~p", [Other2]),
            halt(1)
    end,
    %% Let the watchdog exchange DWR/DWA a few times.
    timer:sleep(3 * Tw + 500),
    out("WATCHDOG done"),
    %% remove_transport sends DPR and waits for the DPA (or dpr_timeout).
    ok = diameter:remove_transport(?SVC, Ref),
    wait_down(),
    out("DONE"),
    halt(0);

run(server, Port, _Host, _Realm, _DestRealm, Tw) ->
    {ok, _Ref} = diameter:add_transport(
                   ?SVC,
                   {listen, [{transport_config, [{reuseaddr, true},
                                                 {ip, {127, 0, 0, 1}},
                                                 {port, Port}]}
                             | transport_opts(Tw)]}),
    out("LISTENING ~p", [Port]),
    wait_up(),
    wait_down(),
    out("DONE"),
    halt(0).

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

gsu_time([#{'CC-Time' := [T]} | _]) -> T;
gsu_time(#{'CC-Time' := [T]}) -> T;
gsu_time(_) -> none.

mscc([]) -> "none";
mscc([M | _]) ->
    io_lib:format("rg~p:~p:~p",
                  [hd(maps:get('Rating-Group', M, [none])),
                   hd(maps:get('Result-Code', M, [none])),
                   gsu_time(maps:get('Granted-Service-Unit', M, []))]).

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
    out("ANSWER_DECODE_ERRORS ~w", [[E || E <- Errors, is_integer(E)]
                                    ++ [{C, element(2, A)} || {C, A} <- Errors]]),
    {ok, Msg}.

handle_error(Reason, _Req, _Svc, _Peer) -> {error, Reason}.

handle_request(#diameter_packet{msg = ['CCR' | _], errors = [_ | _] = Errors}, _Svc, _) ->
    %% A CCR that did not decode cleanly (the test sends one with an unknown M-bit
    %% AVP): OTP's own way of answering it.
    out("CCR_ERRORS ~w", [[E || E <- Errors, is_integer(E)]
                          ++ [{C, element(2, A)} || {C, A} <- Errors]]),
    {answer_message, hd([C || {C, _} <- Errors] ++ [C || C <- Errors, is_integer(C)])};
handle_request(#diameter_packet{msg = ['CCR' | R]}, _Svc, {_, Caps}) ->
    #{'Session-Id' := Sid, 'CC-Request-Type' := Type, 'CC-Request-Number' := Num} = R,
    Subs = [io_lib:format("~p:~s", [maps:get('Subscription-Id-Type', S),
                                    maps:get('Subscription-Id-Data', S)])
            || S <- maps:get('Subscription-Id', R, [])],
    Rsu = [case maps:get('Requested-Service-Unit', M, []) of
               [#{'CC-Total-Octets' := [O]} | _] -> O;
               #{'CC-Total-Octets' := [O]} -> O;
               _ -> none
           end || M <- maps:get('Multiple-Services-Credit-Control', R, [])],
    out("CCR session=~s type=~p number=~p service=~s origin=~s dest=~s subs=~s rsu=~p",
        [Sid, Type, Num, maps:get('Service-Context-Id', R),
         maps:get('Origin-Host', R), maps:get('Destination-Realm', R),
         lists:join(",", Subs), Rsu]),
    {reply, ['CCA',
             {'Session-Id', Sid},
             {'Result-Code', 2001},
             {'Origin-Host', element(1, element(2, Caps))},   % the local side
             {'Origin-Realm', element(1, element(3, Caps))},
             {'Auth-Application-Id', 4},
             {'CC-Request-Type', Type},
             {'CC-Request-Number', Num},
             {'Multiple-Services-Credit-Control',
              [[{'Granted-Service-Unit', [[{'CC-Total-Octets', [500000]},
                                          {'CC-Time', [600]}]]},
                {'Rating-Group', [10]},
                {'Validity-Time', [3600]},
                {'Result-Code', [2001]}]]}]};
handle_request(#diameter_packet{msg = Msg}, _Svc, _Peer) ->
    out("ERROR unexpected request ~p", [Msg]),
    {answer_message, 3001}.

%% ---------------------------------------------------------------------------

out(Fmt) -> out(Fmt, []).

out(Fmt, Args) ->
    io:format(Fmt ++ "~n", Args).
