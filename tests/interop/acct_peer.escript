#!/usr/bin/env escript
%%! -noshell
%%
%% An Erlang/OTP diameter base accounting peer (RFC 6733 §9, OTP's own dictionary
%% diameter_gen_base_accounting) for diameter-apps/tests/interop_erlang_acct.rs.
%%
%%   escript acct_peer.escript client Port OriginHost OriginRealm DestRealm
%%       connects to 127.0.0.1:Port and, as an accounting client (application 3), sends
%%       an accounting session (ACR START_RECORD 0, INTERIM_RECORD 1 with
%%       Acct-Interim-Interval, STOP_RECORD 2) and an EVENT_RECORD in a second session.
%%       Prints every answer ("ACA step=S result=.. session=.. type=.. number=..
%%       origin=.. interim=.."), removes the transport (DPR) and exits.
%%   escript acct_peer.escript server Port OriginHost OriginRealm DestRealm
%%       listens on 127.0.0.1:Port as an accounting server: answers every ACR with 2001
%%       and prints it ("ACR session=.. type=.. number=.. t=true|false origin=.."); exits
%%       when the peer goes down.
%%
%% Every line on stdout is one event for the test ("UP ...", "ACA ...", "ACR ...",
%% "DOWN ...", "DONE", "ANSWER_DECODE_ERRORS ...", "ACR_ERRORS ...", "ERROR ...").
%% Every wait is bounded; the script halts with a non-zero status on any failure.

-mode(compile).

-export([peer_up/3, peer_down/3, pick_peer/4, prepare_request/3, prepare_retransmit/3,
         handle_answer/4, handle_error/4, handle_request/3]).

%% From diameter.hrl (Debian's erlang-diameter ships no include directory).
-record(diameter_header, {version, length, cmd_code, application_id, hop_by_hop_id,
                          end_to_end_id, is_request, is_proxiable, is_error,
                          is_retransmitted}).
-record(diameter_packet, {header, avps, msg, bin, errors = [], transport_data}).

-define(SVC, interop_acct_peer).
-define(LIMIT, 15000).

main([Mode, PortS, Host, Realm, DestRealm]) ->
    Port = list_to_integer(PortS),
    %% A watchdog for the whole script: never outlive the test.
    spawn(fun() -> timer:sleep(60000), out("ERROR script timeout"), halt(3) end),
    ok = diameter:start(),
    ok = diameter:start_service(?SVC, service(Host, Realm)),
    diameter:subscribe(?SVC),
    run(list_to_atom(Mode), Port, Host, Realm, DestRealm);
main(Args) ->
    out("ERROR bad arguments ~p", [Args]),
    halt(2).

service(Host, Realm) ->
    [{'Origin-Host', Host},
     {'Origin-Realm', Realm},
     {'Vendor-Id', 193},
     {'Product-Name', "OTP/diameter"},
     {'Firmware-Revision', 1},
     {'Origin-State-Id', diameter:origin_state_id()},
     {'Host-IP-Address', [{127, 0, 0, 1}]},
     {'Acct-Application-Id', [3]},
     {decode_format, map},
     {string_decode, false},
     {strict_mbit, true},
     {application, [{alias, common},
                    {dictionary, diameter_gen_base_rfc6733},
                    {module, ?MODULE}]},
     {application, [{alias, acct},
                    {dictionary, diameter_gen_base_accounting},
                    {module, ?MODULE},
                    {answer_errors, callback}]}].

transport_opts() ->
    [{transport_module, diameter_tcp},
     {watchdog_timer, 30000},
     {reconnect_timer, 60000}].

%% ---------------------------------------------------------------------------
%% Client

run(client, Port, Host, Realm, DestRealm) ->
    {ok, Ref} = diameter:add_transport(
                  ?SVC,
                  {connect, [{transport_config, [{raddr, {127, 0, 0, 1}},
                                                 {rport, Port},
                                                 {ip, {127, 0, 0, 1}},
                                                 {port, 0}]}
                             | transport_opts()]}),
    wait_up(),
    Sid = diameter:session_id(Host),
    Base = fun(S, Type, Num) ->
                   [{'Session-Id', S},
                    {'Origin-Host', Host},
                    {'Origin-Realm', Realm},
                    {'Destination-Realm', DestRealm},
                    {'Accounting-Record-Type', Type},
                    {'Accounting-Record-Number', Num},
                    {'Acct-Application-Id', [3]},
                    {'User-Name', ["alice@example.net"]},
                    {'Event-Timestamp', [{{2024, 5, 1}, {12, 0, Num}}]}]
           end,
    call("S", ['ACR' | Base(Sid, 2, 0) ++ [{'Acct-Interim-Interval', [300]}]]),
    call("I", ['ACR' | Base(Sid, 3, 1)]),
    call("P", ['ACR' | Base(Sid, 4, 2)]),
    Ev = diameter:session_id(Host),
    call("E", ['ACR' | Base(Ev, 1, 0)]),
    ok = diameter:remove_transport(?SVC, Ref),
    wait_down(),
    out("DONE"),
    halt(0);

%% ---------------------------------------------------------------------------
%% Server

run(server, Port, _Host, _Realm, _DestRealm) ->
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

call(Step, ACR) ->
    case diameter:call(?SVC, acct, ACR, [{timeout, 5000}]) of
        {ok, ['ACA' | A]} ->
            out("ACA step=~s result=~p session=~s type=~p number=~p origin=~s interim=~s",
                [Step,
                 maps:get('Result-Code', A),
                 maps:get('Session-Id', A),
                 maps:get('Accounting-Record-Type', A),
                 maps:get('Accounting-Record-Number', A),
                 maps:get('Origin-Host', A),
                 opt(maps:get('Acct-Interim-Interval', A, []))]);
        Other ->
            out("ERROR call ~s ~p", [Step, Other]),
            halt(1)
    end.

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

handle_request(#diameter_packet{msg = ['ACR' | _], errors = [_ | _] = Errors}, _Svc, _) ->
    out("ACR_ERRORS ~w", [errors(Errors)]),
    {answer_message, hd([C || {C, _} <- Errors] ++ [C || C <- Errors, is_integer(C)])};
handle_request(#diameter_packet{header = H, msg = ['ACR' | R]}, _Svc, {_, Caps}) ->
    #{'Session-Id' := Sid, 'Accounting-Record-Type' := Type,
      'Accounting-Record-Number' := Num} = R,
    out("ACR session=~s type=~p number=~p t=~w origin=~s dest=~s",
        [Sid, Type, Num, H#diameter_header.is_retransmitted,
         maps:get('Origin-Host', R), maps:get('Destination-Realm', R)]),
    {reply, ['ACA',
             {'Session-Id', Sid},
             {'Result-Code', 2001},
             {'Origin-Host', element(1, element(2, Caps))},   % the local side
             {'Origin-Realm', element(1, element(3, Caps))},
             {'Accounting-Record-Type', Type},
             {'Accounting-Record-Number', Num},
             {'Acct-Application-Id', [3]}]};
handle_request(#diameter_packet{msg = Msg}, _Svc, _Peer) ->
    out("ERROR unexpected request ~p", [Msg]),
    {answer_message, 3001}.

errors(Errors) ->
    [E || E <- Errors, is_integer(E)] ++ [{C, element(2, A)} || {C, A} <- Errors].

%% ---------------------------------------------------------------------------

out(Fmt) -> out(Fmt, []).

out(Fmt, Args) ->
    io:format(Fmt ++ "~n", Args).
