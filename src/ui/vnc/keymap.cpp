// X11 keysyms (what an RFB client sends, RFB 7.5.4) to Linux evdev key codes on a US keyboard.
// A shifted symbol maps to the key that carries it ('!' is KEY_1): the client sends the Shift key
// itself, before and after. Keysyms with no key here are ignored (logged at debug level).
#include <linux/input-event-codes.h>
#include <rfb/keysym.h>

#include <array>
#include <cstdint>
#include <utility>

#include "altovirt/ui/vnc_server.h"

namespace altovirt::ui {

namespace {

// Letters a..z in order.
constexpr std::array<uint16_t, 26> kLetters = {KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I,
                                               KEY_J, KEY_K, KEY_L, KEY_M, KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R,
                                               KEY_S, KEY_T, KEY_U, KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z};

constexpr std::pair<uint32_t, uint16_t> kKeys[] = {
    // Digits and their shifted symbols.
    {XK_0, KEY_0}, {XK_1, KEY_1}, {XK_2, KEY_2}, {XK_3, KEY_3}, {XK_4, KEY_4},
    {XK_5, KEY_5}, {XK_6, KEY_6}, {XK_7, KEY_7}, {XK_8, KEY_8}, {XK_9, KEY_9},
    {XK_parenright, KEY_0}, {XK_exclam, KEY_1}, {XK_at, KEY_2}, {XK_numbersign, KEY_3}, {XK_dollar, KEY_4},
    {XK_percent, KEY_5}, {XK_asciicircum, KEY_6}, {XK_ampersand, KEY_7}, {XK_asterisk, KEY_8}, {XK_parenleft, KEY_9},
    // Punctuation, unshifted and shifted.
    {XK_minus, KEY_MINUS}, {XK_underscore, KEY_MINUS}, {XK_equal, KEY_EQUAL}, {XK_plus, KEY_EQUAL},
    {XK_bracketleft, KEY_LEFTBRACE}, {XK_braceleft, KEY_LEFTBRACE}, {XK_bracketright, KEY_RIGHTBRACE},
    {XK_braceright, KEY_RIGHTBRACE}, {XK_semicolon, KEY_SEMICOLON}, {XK_colon, KEY_SEMICOLON},
    {XK_apostrophe, KEY_APOSTROPHE}, {XK_quotedbl, KEY_APOSTROPHE}, {XK_grave, KEY_GRAVE},
    {XK_asciitilde, KEY_GRAVE}, {XK_backslash, KEY_BACKSLASH}, {XK_bar, KEY_BACKSLASH}, {XK_comma, KEY_COMMA},
    {XK_less, KEY_COMMA}, {XK_period, KEY_DOT}, {XK_greater, KEY_DOT}, {XK_slash, KEY_SLASH},
    {XK_question, KEY_SLASH}, {XK_space, KEY_SPACE},
    // Editing and movement.
    {XK_BackSpace, KEY_BACKSPACE}, {XK_Tab, KEY_TAB}, {XK_ISO_Left_Tab, KEY_TAB}, {XK_Return, KEY_ENTER},
    {XK_Escape, KEY_ESC}, {XK_Delete, KEY_DELETE}, {XK_Insert, KEY_INSERT}, {XK_Home, KEY_HOME}, {XK_End, KEY_END},
    {XK_Page_Up, KEY_PAGEUP}, {XK_Page_Down, KEY_PAGEDOWN}, {XK_Left, KEY_LEFT}, {XK_Up, KEY_UP},
    {XK_Right, KEY_RIGHT}, {XK_Down, KEY_DOWN}, {XK_Print, KEY_SYSRQ}, {XK_Pause, KEY_PAUSE},
    {XK_Scroll_Lock, KEY_SCROLLLOCK}, {XK_Menu, KEY_COMPOSE},
    // Function keys.
    {XK_F1, KEY_F1}, {XK_F2, KEY_F2}, {XK_F3, KEY_F3}, {XK_F4, KEY_F4}, {XK_F5, KEY_F5}, {XK_F6, KEY_F6},
    {XK_F7, KEY_F7}, {XK_F8, KEY_F8}, {XK_F9, KEY_F9}, {XK_F10, KEY_F10}, {XK_F11, KEY_F11}, {XK_F12, KEY_F12},
    // Modifiers.
    {XK_Shift_L, KEY_LEFTSHIFT}, {XK_Shift_R, KEY_RIGHTSHIFT}, {XK_Control_L, KEY_LEFTCTRL},
    {XK_Control_R, KEY_RIGHTCTRL}, {XK_Alt_L, KEY_LEFTALT}, {XK_Alt_R, KEY_RIGHTALT}, {XK_Meta_L, KEY_LEFTALT},
    {XK_Meta_R, KEY_RIGHTALT}, {XK_ISO_Level3_Shift, KEY_RIGHTALT}, {XK_Super_L, KEY_LEFTMETA},
    {XK_Super_R, KEY_RIGHTMETA}, {XK_Caps_Lock, KEY_CAPSLOCK}, {XK_Num_Lock, KEY_NUMLOCK},
    // Keypad.
    {XK_KP_0, KEY_KP0}, {XK_KP_1, KEY_KP1}, {XK_KP_2, KEY_KP2}, {XK_KP_3, KEY_KP3}, {XK_KP_4, KEY_KP4},
    {XK_KP_5, KEY_KP5}, {XK_KP_6, KEY_KP6}, {XK_KP_7, KEY_KP7}, {XK_KP_8, KEY_KP8}, {XK_KP_9, KEY_KP9},
    {XK_KP_Enter, KEY_KPENTER}, {XK_KP_Add, KEY_KPPLUS}, {XK_KP_Subtract, KEY_KPMINUS},
    {XK_KP_Multiply, KEY_KPASTERISK}, {XK_KP_Divide, KEY_KPSLASH}, {XK_KP_Decimal, KEY_KPDOT},
};

}  // namespace

uint16_t keysym_to_key(uint32_t keysym) {
  if (keysym >= XK_a && keysym <= XK_z) return kLetters[keysym - XK_a];
  if (keysym >= XK_A && keysym <= XK_Z) return kLetters[keysym - XK_A];
  for (auto [sym, key] : kKeys)
    if (sym == keysym) return key;
  return 0;
}

}  // namespace altovirt::ui
