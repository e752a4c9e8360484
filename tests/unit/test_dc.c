/*
 * test_dc.c - the page's data-channel messages (dc_message) and the ack
 * window that paces frames to the page (dc_window).
 */
#include "testlib.h"

#include "dc_message.h"
#include "dc_window.h"

static ooblex_dc_message_kind parse(const char *text, uint64_t *id) {
	ooblex_dc_message m;
	ooblex_dc_message_kind k = ooblex_dc_message_parse((const uint8_t *)text, strlen(text), &m);
	if(id)
		*id = m.ack_id;
	return k;
}

static void test_messages_the_page_sends(void) {
	uint64_t id = 0;
	EXPECT_EQ(parse("{\"ack\":42}", &id), OOBLEX_DC_MSG_ACK);
	EXPECT_EQ(id, 42);
	EXPECT_EQ(parse("{ \"ack\" : 7 }", &id), OOBLEX_DC_MSG_ACK);
	EXPECT_EQ(id, 7);
	EXPECT_EQ(parse("{\"ack\":18446744073709551615}", &id), OOBLEX_DC_MSG_ACK);
	EXPECT(id == UINT64_MAX);
	EXPECT_EQ(parse("{\"hello\":\"ooblex\"}", NULL), OOBLEX_DC_MSG_HELLO);
	EXPECT_EQ(parse("", NULL), OOBLEX_DC_MSG_OTHER);
	EXPECT_EQ(parse("hello", NULL), OOBLEX_DC_MSG_OTHER);
	EXPECT_EQ(parse("{\"other\":1}", NULL), OOBLEX_DC_MSG_OTHER);
}

static void test_bad_acks(void) {
	static const char *const bad[] = {
		"{\"ack\":-1}", "{\"ack\":}", "{\"ack\":1.5}", "{\"ack\":1e99}", "{\"ack\":\"7\"}", "{\"ack\":07}",
		"{\"ack\":18446744073709551616}", "{\"ack\":99999999999999999999999}", "{\"ack\":1", "{\"ack\":1}x",
		"{\"ack\":1,\"ack\":2}", "{\"ack\":null}", "{\"ack\":true}", "{\"ack\":[1]}", "{\"ack\":0x10}",
		"{\"ack\":+3}", "{\"ack\" 3}", "{\"ack\":1}}",
	};
	for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ooblex_dc_message_kind k = parse(bad[i], NULL);
		if(k != OOBLEX_DC_MSG_BAD_ACK)
			printf("#   %s: kind %d\n", bad[i], k);
		EXPECT_EQ(k, OOBLEX_DC_MSG_BAD_ACK);
	}
	/* Embedded NUL: the length is what counts. */
	ooblex_dc_message m;
	EXPECT_EQ(ooblex_dc_message_parse((const uint8_t *)"{\"ack\":1\0}", 10, &m), OOBLEX_DC_MSG_BAD_ACK);
	uint8_t big[OOBLEX_DC_MESSAGE_MAX + 1];
	memset(big, ' ', sizeof(big));
	memcpy(big, "{\"ack\":1}", 9);
	EXPECT_EQ(ooblex_dc_message_parse(big, sizeof(big), &m), OOBLEX_DC_MSG_OVERSIZED);
	EXPECT_EQ(ooblex_dc_message_parse(big, sizeof(big) - 1, &m), OOBLEX_DC_MSG_ACK);
	EXPECT_EQ(ooblex_dc_message_parse(NULL, 0, &m), OOBLEX_DC_MSG_OTHER);
}

/* Backpressure stays on whatever the page acks, unless it acks what was sent. */
static void test_window_refuses_acks_never_sent(void) {
	ooblex_dc_window w;
	ooblex_dc_window_reset(&w);
	for(uint64_t id = 100; id < 108; id++)
		ooblex_dc_window_sent(&w, id);
	EXPECT_EQ(ooblex_dc_window_in_flight(&w), 8);
	/* What {"ack":-1} and friends were taken as before: the largest id. */
	EXPECT_EQ(ooblex_dc_window_ack(&w, UINT64_MAX), OOBLEX_DC_ACK_UNKNOWN);
	EXPECT_EQ(ooblex_dc_window_ack(&w, 1000), OOBLEX_DC_ACK_UNKNOWN);
	EXPECT_EQ(ooblex_dc_window_ack(&w, 99), OOBLEX_DC_ACK_UNKNOWN);
	EXPECT_EQ(ooblex_dc_window_in_flight(&w), 8);
	/* A real ack acknowledges that frame and those sent before it. */
	EXPECT_EQ(ooblex_dc_window_ack(&w, 103), OOBLEX_DC_ACK_OK);
	EXPECT_EQ(ooblex_dc_window_in_flight(&w), 4);
	/* Again, or an older one: already acked, refused, nothing moves. */
	EXPECT_EQ(ooblex_dc_window_ack(&w, 103), OOBLEX_DC_ACK_UNKNOWN);
	EXPECT_EQ(ooblex_dc_window_ack(&w, 101), OOBLEX_DC_ACK_UNKNOWN);
	EXPECT_EQ(ooblex_dc_window_in_flight(&w), 4);
	EXPECT_EQ(ooblex_dc_window_ack(&w, 107), OOBLEX_DC_ACK_OK);
	EXPECT_EQ(ooblex_dc_window_in_flight(&w), 0);
}

/* Ids come from results and need not increase: ordering is by sending. */
static void test_window_orders_by_sending(void) {
	ooblex_dc_window w;
	ooblex_dc_window_reset(&w);
	ooblex_dc_window_sent(&w, 5);
	ooblex_dc_window_sent(&w, UINT64_MAX);	/* a forged frame id */
	ooblex_dc_window_sent(&w, 6);
	ooblex_dc_window_sent(&w, 7);
	EXPECT_EQ(ooblex_dc_window_ack(&w, 5), OOBLEX_DC_ACK_OK);
	EXPECT_EQ(ooblex_dc_window_in_flight(&w), 3);
	EXPECT_EQ(ooblex_dc_window_ack(&w, UINT64_MAX), OOBLEX_DC_ACK_OK);
	EXPECT_EQ(ooblex_dc_window_in_flight(&w), 2);
}

static void test_window_without_page_acks(void) {
	ooblex_dc_window w;
	ooblex_dc_window_reset(&w);
	for(int i = 0; i < 3; i++)
		ooblex_dc_window_sent(&w, (uint64_t)i + 1);
	EXPECT_EQ(ooblex_dc_window_in_flight(&w), 3);
	/* A bad ack does not switch the page to ack mode either. */
	EXPECT_EQ(ooblex_dc_window_ack(&w, 99), OOBLEX_DC_ACK_UNKNOWN);
	EXPECT(!w.page_acks);
	ooblex_dc_window_drained(&w);
	EXPECT_EQ(ooblex_dc_window_in_flight(&w), 0);
	/* Past a full ring the oldest are forgotten; the fallback clears all. */
	for(int i = 0; i < OOBLEX_DC_WINDOW + 10; i++)
		ooblex_dc_window_sent(&w, (uint64_t)i + 10);
	EXPECT_EQ(ooblex_dc_window_ack(&w, 10), OOBLEX_DC_ACK_UNKNOWN);
	EXPECT_EQ(ooblex_dc_window_ack(&w, 20), OOBLEX_DC_ACK_OK);
	EXPECT_EQ(ooblex_dc_window_in_flight(&w), OOBLEX_DC_WINDOW + 10 - 11);
	ooblex_dc_window_assume_delivered(&w);
	EXPECT_EQ(ooblex_dc_window_in_flight(&w), 0);
}

int main(void) {
	TEST_RUN(test_messages_the_page_sends);
	TEST_RUN(test_bad_acks);
	TEST_RUN(test_window_refuses_acks_never_sent);
	TEST_RUN(test_window_orders_by_sending);
	TEST_RUN(test_window_without_page_acks);
	return tl_done();
}
